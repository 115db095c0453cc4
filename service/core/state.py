"""The state of one running service: settings, models, thread pools, metrics, readiness, draining.

One `ServiceState` is shared by the REST app, the gRPC server and the Open Inference Protocol dataplane;
`service.runtime` builds it and drives its life: `start` (load every model), `begin_drain`, `wait_idle`,
`stop`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import InvalidInput, Unavailable
from ..settings import Settings
from .auth import ApiKeys
from .detection import DetectionResult, DetectLimits, DetectOptions, detect
from .live_repository import RepositoryWatcher
from .metrics import Metrics
from .model_control import ModelControl
from .model_version import ModelVersion
from .repository import ModelRegistry, scan_repository
from .score_sessions import ScoreSessions

__all__ = ["ServiceState"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class ServiceState:
    """Everything a request handler needs.

    Attributes:
        settings: the configuration.
        registry: repository models (scanned at construction, loaded by `start`).
        api_keys: the keys both edges check.
        metrics: the service's Prometheus metrics.
        draining: set on SIGTERM; new work is refused with 503, readiness is false.
        inflight: requests being handled right now (the drain waits for 0).
        readiness_changed: set when `ready` may have changed (models loaded, drain begun), so that followers
            such as gRPC health need not wait for their next poll.
        closing: set when a drain's grace period is running out: what is still open (a stream) ends now.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry: ModelRegistry = scan_repository(settings.model_repository)
        if settings.model_control_mode == "explicit":
            self._keep_load_models()
        self.api_keys = ApiKeys(settings.api_keys)
        self.detect_limits = DetectLimits(
            max_images=settings.max_images_per_request,
            max_pixels=settings.max_image_pixels,
            max_request_pixels=settings.max_request_pixels,
            inline_bytes=settings.inline_preprocess_bytes,
        )
        self.metrics = Metrics()
        self.draining = False
        self.inflight = 0
        self.loaded = False
        self.readiness_changed = asyncio.Event()
        self.closing = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.inference_pool = ThreadPoolExecutor(max(2, len(self.registry)), thread_name_prefix="inference")
        self.cpu_pool = ThreadPoolExecutor(settings.preprocess_threads, thread_name_prefix="preprocess")
        self._load_task: asyncio.Task[None] | None = None
        #: the live repository (``model_control_mode`` poll, polling, or explicit, loading on request), from
        #: the end of the first load on
        self.watcher: RepositoryWatcher | None = None
        #: the model repository API (index, load, unload)
        self.model_control = ModelControl(self)
        #: called after the live repository changed what is served (the v2 model list follows it)
        self.on_repository_change: list[Callable[[], None]] = []
        #: scoring sessions (their store is opened on first use)
        self.score_sessions = ScoreSessions(settings.score_store, settings.score_session_ttl_s, self.cpu_pool)

    @property
    def ready(self) -> bool:
        """Loading over, every model has a warm version to serve, and not draining."""
        return self.loaded and not self.draining and self.registry.all_servable

    async def start(self) -> None:
        """Start loading every model version in the background (readiness turns true when all are warm)."""
        self._load_task = asyncio.get_running_loop().create_task(self._load_all(), name="load-models")

    async def wait_loaded(self) -> None:
        if self._load_task is not None:
            await asyncio.shield(self._load_task)

    async def load_version(self, mv: ModelVersion) -> None:
        """Load one version in the inference pool, warmed up at every batch size its batcher can form (1 to
        its batch limit), and once ready start its batcher: no request pays for a first run."""
        s = self.settings
        load = functools.partial(
            mv.load,
            preferences=list(s.execution_providers),
            intra_op_threads=s.intra_op_threads,
            inter_op_threads=s.inter_op_threads,
            warmup_batch_sizes=range(1, mv.batch_limit(s.max_batch_size) + 1),
        )
        await asyncio.get_running_loop().run_in_executor(self.inference_pool, load)
        if mv.ready:
            mv.start_batching(
                self.inference_pool,
                max_batch_size=s.max_batch_size,
                max_queue_delay_s=s.max_queue_delay_s,
                queue_size=s.queue_size,
                instances=s.model_instances,
                observer=self.metrics,
            )
            for provider in mv.providers[:1]:
                self.metrics.model_provider.labels(mv.name, mv.version, provider).set(1)

    async def _load_all(self) -> None:
        for mv in self.registry:
            await self.load_version(mv)
        self.metrics.models_loaded.set(sum(mv.ready for mv in self.registry))
        for name in self.registry.names():
            served, newest = self.registry.get(name), self.registry.versions(name)[-1]
            if newest.state == "failed" and served.ready:
                log.warning(
                    "model %s: version %s failed (%s); serving version %s",
                    name,
                    newest.version,
                    newest.error,
                    served.version,
                )
        self.loaded = True
        self.metrics.ready.set(1 if self.ready else 0)
        self.readiness_changed.set()
        if self.settings.model_control_mode in ("poll", "explicit"):
            self.watcher = RepositoryWatcher(self)
        if self.watcher is not None and self.settings.model_control_mode == "poll":
            self.watcher.start()

    def _keep_load_models(self) -> None:
        """Explicit model control: only ``load_models`` are loaded at start ('*': all; none by default)."""
        wanted = set(self.settings.load_models)
        if "*" in wanted:
            return
        missing = sorted(wanted - set(self.registry.names()))
        if missing:
            log.error(
                "load_models: %s not in the model repository %s", missing, self.settings.model_repository
            )
        self.registry.keep_only(wanted)
        log.info("explicit model control: loading %s at start", sorted(wanted & set(self.registry.names())))

    def begin_drain(self) -> None:
        """Readiness false at once; new requests get 503 from now on."""
        if not self.draining:
            log.info("draining: refusing new requests, finishing %d in flight", self.inflight)
        self.draining = True
        self.metrics.ready.set(0)
        self.readiness_changed.set()

    def enter(self) -> None:
        """Count one request in flight (both edges call it when they accept a request)."""
        self.inflight += 1
        self._idle.clear()

    def leave(self) -> None:
        """The request counted by `enter` is answered."""
        self.inflight -= 1
        if self.inflight <= 0:
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight (or ``timeout_s`` passes); True when idle."""
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await self._idle.wait()
        except TimeoutError:
            pass
        return self.inflight == 0

    async def stop(self, grace_s: float | None = None) -> None:
        """Finish queued batches (within ``grace_s``, default the setting), stop the batchers and pools."""
        self.begin_drain()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        retiring = await self.watcher.stop() if self.watcher is not None else []
        await asyncio.gather(*(mv.stop_batching(grace) for mv in [*self.registry, *retiring]))
        await self.score_sessions.close()
        self.inference_pool.shutdown(wait=False, cancel_futures=True)
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)

    def model(self, name: str, version: str | None = None) -> ModelVersion:
        """A model version that can take work now.

        Work is refused at the edges once a drain begins; what they accepted before is served to the end.

        Raises:
            NotFound: unknown model or version.
            Unavailable: still loading, or failed to load.
        """
        mv = self.registry.get(name, version)
        if mv.state == "failed":
            raise Unavailable(f"model {name} version {mv.version} failed to load: {mv.error}")
        if not mv.ready or mv.batcher is None:
            raise Unavailable(f"model {name} version {mv.version} is still loading")
        return mv

    def detector(self, name: str, version: str | None = None) -> ModelVersion:
        """Like `model`, and the model must be a detector (metadata task ``detection``)."""
        mv = self.registry.get(name, version)
        if not mv.is_detector:
            raise InvalidInput(f"model {name!r} is not a detection model", field="model")
        return self.model(name, version)

    async def detect(
        self,
        mv: ModelVersion,
        images: Sequence[bytes],
        names: Sequence[str],
        options: DetectOptions,
        *,
        timeout_s: float | None = None,
    ) -> DetectionResult:
        """`service.core.detection.detect` with this service's pool and limits (``timeout_s``: the
        setting)."""
        return await detect(
            mv,
            images,
            names,
            options,
            cpu_pool=self.cpu_pool,
            limits=self.detect_limits,
            timeout_s=self.settings.request_timeout_s if timeout_s is None else timeout_s,
        )

    async def in_cpu_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work (decoding, preprocessing, scoring) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, fn, *args)
