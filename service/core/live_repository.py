"""The live model repository (``model_control_mode: poll``): the repository re-read, versions swapped in and
out while requests keep coming, none of them failing for it.

Every ``repository_poll_secs`` the watcher scans the repository as at start (`scan_repository`, honouring each
model's ``version_policy``) and compares it with what is served, version by version, by its files' sizes and
modification times:

* a version that is new, or whose files changed, is loaded and warmed up *before* it takes traffic; then it
  replaces the one of the same number, if any, in the registry, so new requests go to it;
* a version that failed to load never replaces one that works: the working one keeps serving, and the failure
  is in the log, in ``/v1/models`` (the failed version stands beside it) and in
  ``focalserve_model_load_failures_total``;
* a version that left the repository (or that the policy no longer names) is taken out of the registry once
  its model has another version ready (or has left the repository altogether), so a model is never left
  without a version to serve because its successor is still loading;
* a version taken out is *retired*: what it has queued or running finishes on it, its batcher stops once its
  queue has been quiet for a second (`ModelVersion.retire`), and its ONNX Runtime session is released.

``model_control_mode: explicit`` uses the same load-then-swap and retire steps for one model at a time
(`load_model`, `unload_model`; `service.core.model_control` calls them), with no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .model_config import ModelConfig
from .model_version import ModelVersion
from .repository import scan_model, scan_repository

if TYPE_CHECKING:
    from .state import ServiceState

__all__ = ["RepositoryWatcher", "SyncReport"]

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What one pass changed: versions now served, taken out, or that failed to load (``name:version``)."""

    loaded: list[str] = field(default_factory=list)
    unloaded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.loaded or self.unloaded or self.failed)


def _label(mv: ModelVersion) -> str:
    return f"{mv.name}:{mv.version}"


class RepositoryWatcher:
    """Keeps the served versions in step with the repository (see the module's description)."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._task: asyncio.Task[None] | None = None
        self._retiring: dict[asyncio.Task[None], ModelVersion] = {}
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="repository-poll")

    async def stop(self) -> list[ModelVersion]:
        """Stop polling; return the versions still being retired (the caller stops their batchers)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in self._retiring:
            task.cancel()
        return list(self._retiring.values())

    async def _poll(self) -> None:
        interval = self.state.settings.repository_poll_secs
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync()
            except Exception:  # a bad pass is logged; the next one tries again
                log.exception("reading the model repository failed")

    async def sync(self) -> SyncReport:
        """One pass: load what is new or changed, swap it in, take out what left. Serialised."""
        async with self._lock:
            return await self._sync()

    async def _sync(self) -> SyncReport:
        state = self.state
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(state.cpu_pool, scan_repository, state.settings.model_repository)
        return await self._apply(list(found), list(state.registry))

    async def load_model(self, name: str, override: ModelConfig | None = None) -> SyncReport:
        """Load one model folder's versions (``override``: instead of its config.pbtxt) and swap them in, as
        a pass does for the whole repository; versions the policy no longer names are taken out. Versions
        already served with the same files are kept unless ``override`` is given. Serialised with `sync`."""
        async with self._lock:
            state = self.state
            folder = state.settings.model_repository / name
            found = await asyncio.get_running_loop().run_in_executor(
                state.cpu_pool, scan_model, folder, override
            )
            return await self._apply(found, _versions(state, name), force=override is not None)

    async def unload_model(self, name: str) -> SyncReport:
        """Take every version of one model out of the registry and retire it. Serialised with `sync`."""
        async with self._lock:
            return await self._apply([], _versions(self.state, name))

    async def _apply(
        self, found: list[ModelVersion], current: list[ModelVersion], *, force: bool = False
    ) -> SyncReport:
        """Make the ``current`` versions (those served, of the models concerned) into ``found``: load and swap
        in what is new or changed (everything with ``force``), take out what is not found."""
        state, report = self.state, SyncReport()
        served = {mv.key: mv for mv in current}
        wanted = {mv.key: mv for mv in found}
        for key, mv in wanted.items():
            old = served.get(key)
            if old is not None and old.stamp == mv.stamp and not force:
                continue
            await state.load_version(mv)
            if mv.ready or old is None or not old.ready:
                state.registry.add(mv)
                (report.loaded if mv.ready else report.failed).append(_label(mv))
                if old is not None:
                    self._retire(old)
            else:
                report.failed.append(_label(mv))
                log.error(
                    "model %s version %s: the new files failed to load (%s); the loaded ones keep serving",
                    mv.name,
                    mv.version,
                    mv.error,
                )
            if not mv.ready:
                state.metrics.model_load_failures.labels(mv.name, mv.version).inc()
        for key, old in served.items():
            if key in wanted:
                continue
            others = [v for v in _versions(state, old.name) if v is not old and v.ready]
            if others or not any(k[0] == old.name for k in wanted) or not old.ready:
                state.registry.remove(old)
                report.unloaded.append(_label(old))
                self._retire(old)
            else:
                log.info("model %s version %s kept until a version to replace it is ready", *key)
        if report:
            log.info("model repository: loaded %s, unloaded %s, failed %s", *_lists(report))
            state.metrics.models_loaded.set(sum(mv.ready for mv in state.registry))
            for callback in state.on_repository_change:
                callback()
            state.readiness_changed.set()
        return report

    def _retire(self, mv: ModelVersion) -> None:
        grace = self.state.settings.shutdown_grace_s
        task = asyncio.get_running_loop().create_task(mv.retire(grace), name=f"retire:{_label(mv)}")
        self._retiring[task] = mv
        task.add_done_callback(lambda done: self._retiring.pop(done, None))


def _versions(state: ServiceState, name: str) -> list[ModelVersion]:
    return [mv for mv in state.registry if mv.name == name]


def _lists(report: SyncReport) -> tuple[list[str], list[str], list[str]]:
    return report.loaded, report.unloaded, report.failed
