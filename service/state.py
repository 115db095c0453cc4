"""The state of one running service: settings, models, batchers, thread pools, metrics, readiness, draining.

One `ServiceState` lives on ``app.state.service``; the REST routers and the gRPC servicers share it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .batching import Batcher
from .errors import InvalidInput, Unavailable
from .metrics import Metrics
from .repository import ModelRegistry, ModelVersion, scan_repository
from .settings import Settings
from .v2_registry import RepositoryV2Model, V2ModelRegistry

__all__ = ["Hook", "ServiceState"]

log = logging.getLogger(__name__)

T = TypeVar("T")
#: A lifespan hook: an async callable taking the state (gRPC start / stop).
Hook = Callable[["ServiceState"], Awaitable[None]]


class ServiceState:
    """Everything a request handler needs.

    Attributes:
        settings: the configuration.
        registry: repository models (scanned at construction, loaded by `start`).
        v2_models: what ``/v2`` lists; detectors are registered here, others may be added.
        v2_extensions: protocol extensions listed by ``GET /v2``.
        metrics: the app's Prometheus metrics.
        draining: set on SIGTERM; new work is refused with 503, readiness is false.
        inflight: requests being handled right now (the drain waits for 0).
        readiness_changed: set when `ready` may have changed (models loaded, drain begun), so that followers
            such as gRPC health need not wait for their next poll.
        on_startup / on_shutdown: hooks run by the lifespan after the models load / before they unload.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry: ModelRegistry = scan_repository(settings.model_repository)
        self.metrics = Metrics()
        self.v2_models = V2ModelRegistry()
        for name in self.registry.names():
            self.v2_models.register(RepositoryV2Model(self.registry, name))
        self.v2_extensions: list[str] = []
        self.draining = False
        self.inflight = 0
        self.loaded = False
        self.readiness_changed = asyncio.Event()
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self.inference_pool = ThreadPoolExecutor(max(2, len(self.registry)), thread_name_prefix="inference")
        self.cpu_pool = ThreadPoolExecutor(settings.preprocess_threads, thread_name_prefix="preprocess")
        self._load_task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Every model loaded and warm, every registered v2 model ready, and not draining."""
        return self.loaded and not self.draining and self.registry.all_ready and self.v2_models.all_ready()

    async def start(self) -> None:
        """Start loading every model version in the background (readiness turns true when all are warm)."""
        self._load_task = asyncio.get_running_loop().create_task(self._load_all(), name="load-models")

    async def wait_loaded(self) -> None:
        if self._load_task is not None:
            await asyncio.shield(self._load_task)

    async def _load_all(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        for mv in self.registry:
            load = functools.partial(
                mv.load,
                preferences=list(s.execution_providers),
                intra_op_threads=s.intra_op_threads,
                inter_op_threads=s.inter_op_threads,
            )
            await loop.run_in_executor(self.inference_pool, load)
            if mv.ready:
                mv.batcher = Batcher(
                    mv.name,
                    mv.version,
                    mv.run,
                    self.inference_pool,
                    max_batch_size=mv.batch_limit(s.max_batch_size),
                    max_queue_delay_s=s.max_queue_delay_s,
                    queue_size=s.queue_size,
                    instances=s.model_instances,
                    observer=self.metrics,
                )
                mv.batcher.start()
                for provider in mv.providers[:1]:
                    self.metrics.model_provider.labels(mv.name, mv.version, provider).set(1)
        self.metrics.models_loaded.set(sum(mv.ready for mv in self.registry))
        self.loaded = True
        self.metrics.ready.set(1 if self.ready else 0)
        self.readiness_changed.set()

    def begin_drain(self) -> None:
        """Readiness false at once; new requests get 503 from now on."""
        if not self.draining:
            log.info("draining: refusing new requests, finishing %d in flight", self.inflight)
        self.draining = True
        self.metrics.ready.set(0)
        self.readiness_changed.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight (or ``timeout_s`` passes); True when idle."""
        deadline = time.monotonic() + timeout_s
        while self.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.inflight == 0

    async def stop(self) -> None:
        """Finish queued batches (within the grace period), stop the batchers and the thread pools."""
        self.begin_drain()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        grace = self.settings.shutdown_grace_s
        await asyncio.gather(*(mv.batcher.stop(grace) for mv in self.registry if mv.batcher is not None))
        self.inference_pool.shutdown(wait=False, cancel_futures=True)
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)

    def model(self, name: str, version: str | None = None) -> ModelVersion:
        """A model version that can take work now.

        Raises:
            NotFound: unknown model or version.
            Unavailable: still loading, failed to load, or the service is draining.
        """
        mv = self.registry.get(name, version)
        if self.draining:
            raise Unavailable("the service is shutting down")
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

    async def in_cpu_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work (decoding, preprocessing, scoring) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, fn, *args)
