"""The runtime: the REST and gRPC servers as siblings over one state, started together, drained once.

`Runtime` builds the `ServiceState`, the Open Inference Protocol `Dataplane`, the REST app (uvicorn) and the
gRPC server over them. `serve` binds both ports (port 0 picks a free one: `http_port` and `grpc_port` tell
which, and a log line says it), starts loading the models, and serves until `shutdown` is called or a SIGTERM
/ SIGINT arrives. Then one drain with one grace budget (``shutdown_grace_s``) for the whole process:

1. readiness false at once (REST ``/v2/health/ready`` 503, gRPC health NOT_SERVING); new requests 503 /
   UNAVAILABLE, while every request already accepted is answered;
2. when none is left in flight, both servers close and the batchers finish what they hold; when the budget
   is nearly spent (`CLOSING_SHARE` of it, at most `CLOSING_MAX_S`, is left), what is still open ends
   cleanly (a gRPC stream with UNAVAILABLE), and the servers close when the budget is over.

A second SIGINT forces the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from .core.memory import freeze_startup_objects, keep_large_buffers
from .core.state import ServiceState
from .grpc import GrpcServer
from .oip import Dataplane
from .rest import create_app
from .rest.protocol import with_header_timeout
from .settings import Settings

__all__ = ["Runtime", "serve"]

log = logging.getLogger(__name__)

#: The end of the grace budget kept for open streams to end cleanly: this share of it, at most this long.
CLOSING_SHARE = 0.1
CLOSING_MAX_S = 1.0


class _RestServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns the signals and the drain."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Runtime:
    """Both servers of one service process.

    Args:
        settings: the configuration.
        freeze_gc: once the models are loaded, take the start-up objects out of the garbage collector's
            walks (`service.core.memory.freeze_startup_objects`); for the process entry point.
    """

    def __init__(self, settings: Settings, *, freeze_gc: bool = False) -> None:
        self.settings = settings
        self.freeze_gc = freeze_gc
        self.state = ServiceState(settings)
        self.dataplane = Dataplane(self.state)
        self.app = create_app(settings, state=self.state, dataplane=self.dataplane)
        self.grpc = GrpcServer(self.state, self.dataplane)
        config = uvicorn.Config(
            self.app,
            http=with_header_timeout(settings.header_timeout_s),
            log_level=settings.log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
            timeout_keep_alive=max(1, round(settings.idle_timeout_s)),
            limit_concurrency=settings.max_connections,
        )
        self.rest = _RestServer(config)
        self.http_port = 0
        self.grpc_port = 0
        #: set once both servers listen (from any thread: tests start a runtime in one)
        self.started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signals = 0

    async def serve(self) -> None:
        """Serve until `shutdown` or a signal, then drain and stop (see the module's description)."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only for a socket that says so
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.http_port))
        self.http_port = sock.getsockname()[1]
        await self.state.start()
        after_load = self._loop.create_task(self._after_load(), name="after-load")
        await self.grpc.start()
        self.grpc_port = self.grpc.port
        rest = self._loop.create_task(self.rest.serve(sockets=[sock]), name="rest")
        while not self.rest.started and not rest.done():
            await asyncio.sleep(0.005)
        self._install_signals()
        log.info("REST listening on http://%s:%d", self.settings.host, self.http_port)
        self.started.set()
        try:
            await asyncio.wait(
                [rest, self._loop.create_task(self._stop.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            await self._drain_and_stop(rest)
        finally:
            after_load.cancel()
            self._remove_signals()
            sock.close()

    def shutdown(self) -> None:
        """Begin the drain (thread-safe; what a SIGTERM does)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _drain_and_stop(self, rest: asyncio.Task[None]) -> None:
        grace = self.settings.shutdown_grace_s
        deadline = time.monotonic() + grace
        self.state.begin_drain()
        log.info("draining for up to %.1f s", grace)
        closing = min(CLOSING_MAX_S, grace * CLOSING_SHARE)
        if not await self.state.wait_idle(grace - closing):
            log.warning("grace period ending with %d request(s) in flight", self.state.inflight)
            self.state.closing.set()
            if not await self.state.wait_idle(max(0.0, deadline - time.monotonic())):
                log.warning("grace period over with %d request(s) in flight", self.state.inflight)
        left = max(0.0, deadline - time.monotonic())
        self.rest.config.timeout_graceful_shutdown = max(1, round(left))
        self.rest.should_exit = True
        await asyncio.gather(self.grpc.stop(left), rest, return_exceptions=True)
        await self.state.stop(max(0.0, deadline - time.monotonic()))
        log.info("stopped")

    async def _after_load(self) -> None:
        try:
            await self.state.wait_loaded()
        except (Exception, asyncio.CancelledError):  # loading failed or was cut short: nothing to do
            return
        if self.freeze_gc:
            freeze_startup_objects()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self._loop is None:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._on_signal, sig)

    def _remove_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self._loop is None:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("signal %s: draining", signal.Signals(sig).name)
            assert self._stop is not None
            self._stop.set()
        elif sig == signal.SIGINT:
            log.warning("second SIGINT: exiting now")
            self.rest.force_exit = True
            raise SystemExit(130)


def serve(settings: Settings) -> None:
    """Run the service until a signal stops it (blocking)."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    keep_large_buffers(settings.malloc_keep_bytes)
    runtime = Runtime(settings, freeze_gc=True)
    with asyncio.Runner(loop_factory=runtime.rest.config.get_loop_factory()) as runner:
        runner.run(runtime.serve())
