"""Running the app under uvicorn with a graceful SIGTERM: drain first, then let uvicorn stop.

On the first SIGTERM / SIGINT the service turns not-ready and answers new requests 503 at once, while every
request already accepted (and queued in a batcher) is answered; when none is left in flight, or after
``shutdown_grace_s``, uvicorn closes the sockets and runs the lifespan shutdown. A second SIGINT forces exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .memory import freeze_startup_objects, keep_large_buffers
from .settings import Settings
from .state import ServiceState

__all__ = ["DrainingServer", "build_server", "serve"]

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose exit signal drains the service before stopping."""

    def __init__(self, config: uvicorn.Config, state: ServiceState, *, freeze_gc: bool = False) -> None:
        super().__init__(config)
        self.state = state
        self.freeze_gc = freeze_gc
        self._drain_started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._after_load: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)  # type: ignore[arg-type]
        if self.freeze_gc:
            self._after_load = self._loop.create_task(self._freeze_when_loaded())

    async def _freeze_when_loaded(self) -> None:
        try:
            await self.state.wait_loaded()
        except (Exception, asyncio.CancelledError):  # loading failed or was cut short: nothing to freeze
            return
        freeze_startup_objects()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_started or self._loop is None:
            if sig == signal.SIGINT and self._drain_started:
                self.force_exit = True
            self.should_exit = True
            return
        self._drain_started = True
        self.state.begin_drain()
        log.info(
            "signal %s: draining for up to %.1f s",
            signal.Signals(sig).name,
            self.state.settings.shutdown_grace_s,
        )
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain_then_exit()))

    async def _drain_then_exit(self) -> None:
        idle = await self.state.wait_idle(self.state.settings.shutdown_grace_s)
        if not idle:
            log.warning("grace period over with %d request(s) still in flight", self.state.inflight)
        self.should_exit = True


def build_server(
    settings: Settings, app: FastAPI | None = None, *, freeze_gc: bool = False
) -> DrainingServer:
    """A ready-to-run server for ``settings`` (``app`` defaults to ``create_app(settings)``); with
    ``freeze_gc``, start-up objects leave the garbage collector's walks once the models are loaded."""
    app = app or create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
        access_log=False,
        lifespan="on",
    )
    return DrainingServer(config, app.state.service, freeze_gc=freeze_gc)


def serve(settings: Settings) -> None:
    """Run the service until a signal stops it (blocking)."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    keep_large_buffers(settings.malloc_keep_bytes)
    build_server(settings, freeze_gc=True).run()
