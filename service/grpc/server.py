"""The gRPC server: our Detection and Scoring services, the Open Inference Protocol, health and reflection.

One `grpc.aio` server in the REST app's process and event loop, a sibling of the REST server:
`service.runtime` starts and stops both over one `ServiceState` (the model registry, the batchers, the thread
pools, draining) and one Open Inference Protocol `Dataplane`.
Health (``grpc.health.v1``) follows readiness for the server (``""``) and each service: SERVING once every
model is warm, NOT_SERVING while loading, and from the first moment of a drain (SIGTERM) on. Reflection
lists every service. Messages are limited to ``settings.grpc_max_message_bytes`` both ways
(RESOURCE_EXHAUSTED above).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .._proto import (
    detection_pb2,
    detection_pb2_grpc,
    inference_v2_pb2,
    inference_v2_pb2_grpc,
    score_sessions_pb2,
    scoring_pb2,
)
from ..core.state import ServiceState
from ..oip import Dataplane
from ..settings import Settings
from .detection import DetectionServicer
from .inference import InferenceServicer
from .interceptor import EdgeInterceptor
from .score_sessions import ScoreSessionServicer, score_sessions_handler
from .scoring import ScoringServicer, scoring_handler

__all__ = ["SERVICE_NAMES", "GrpcServer", "server_options"]

log = logging.getLogger(__name__)

#: Fully qualified names of the application services (health reports each; reflection lists them).
SERVICE_NAMES = (
    detection_pb2.DESCRIPTOR.services_by_name["DetectionService"].full_name,
    scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name,
    score_sessions_pb2.DESCRIPTOR.services_by_name["ScoreSessionService"].full_name,
    inference_v2_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
)
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel arguments of the server: message limits both ways; connection limits (a handshake deadline,
    keepalive pings that drop dead peers, idle and age limits); transport settings for large messages
    (packed arrays) that read the socket in big chunks and open the flow-control window."""
    max_message_bytes = settings.grpc_max_message_bytes
    keepalive_ms = round(settings.grpc_keepalive_s * 1000)
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.server_handshake_timeout_ms", round(settings.header_timeout_s * 1000)),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", min(20_000, keepalive_ms)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_connection_idle_ms", round(settings.grpc_max_connection_idle_s * 1000)),
        ("grpc.max_connection_age_ms", round(settings.grpc_max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", round(settings.shutdown_grace_s * 1000)),
        ("grpc.so_reuseport", 0),
        ("grpc.experimental.tcp_read_chunk_size", 4 << 20),
        ("grpc.experimental.tcp_min_read_chunk_size", 1 << 20),
        ("grpc.experimental.tcp_max_read_chunk_size", 16 << 20),
        ("grpc.http2.lookahead_bytes", 64 << 20),
        # let clients send HTTP/2 frames of up to 16 MiB (the protocol's most): a 40 MB message in a few
        # frames instead of 2,500 of the default 16 KiB, received faster (the figures: docs/benchmarks.md)
        ("grpc.http2.max_frame_size", (1 << 24) - 1),
    ]


class GrpcServer:
    """The service's gRPC endpoint over one `ServiceState`.

    Args:
        state: the running service's state (shared with the REST app).
        dataplane: the Open Inference Protocol over ``state`` (default: a new one).
        address: ``host:port`` to bind; port 0 picks a free one (read `port` after `start`).
            Default: ``settings.host:settings.grpc_port``.
        poll_s: how often health follows ``state.ready``.
    """

    def __init__(
        self,
        state: ServiceState,
        dataplane: Dataplane | None = None,
        address: str | None = None,
        *,
        poll_s: float = 0.1,
    ) -> None:
        settings = state.settings
        self.state = state
        self.dataplane = dataplane or Dataplane(state)
        self.address = address or f"{settings.host}:{settings.grpc_port}"
        self.port = 0
        self._poll_s = poll_s
        self._watch: asyncio.Task[None] | None = None
        self._server: Any = None  # a grpc.aio server belongs to the event loop it is created in: see start()
        self.health: Any = None

    def _build(self) -> None:
        state = self.state
        self._server = aio.server(
            interceptors=[EdgeInterceptor(state)],
            options=server_options(state.settings),
        )
        self.health = health.aio.HealthServicer()
        registrations: list[tuple[Callable[[Any, Any], None], Any]] = [
            (detection_pb2_grpc.add_DetectionServiceServicer_to_server, DetectionServicer(state)),
            (
                inference_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server,
                InferenceServicer(self.dataplane),
            ),
            (health_pb2_grpc.add_HealthServicer_to_server, self.health),
        ]
        for add, servicer in registrations:
            add(servicer, self._server)
        self._server.add_generic_rpc_handlers((scoring_handler(ScoringServicer(state)),))  # zero-copy arrays
        self._server.add_generic_rpc_handlers((score_sessions_handler(ScoreSessionServicer(state)),))
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    async def start(self) -> None:
        """Create the server on the running loop, bind, start serving, and make health follow readiness."""
        self._build()
        self.port = self._server.add_insecure_port(self.address)
        if self.port == 0:
            raise OSError(f"gRPC could not bind {self.address}")
        await self._set(self.dataplane.ready())
        await self._server.start()
        self._watch = asyncio.get_running_loop().create_task(self._follow_readiness(), name="grpc-health")
        log.info("gRPC listening on %s", self.address.rsplit(":", 1)[0] + f":{self.port}")

    async def _set(self, serving: bool) -> None:
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, _SERVING if serving else _NOT_SERVING)

    async def _follow_readiness(self) -> None:
        """Health = readiness: re-read at once when the state signals a change, and every ``poll_s``."""
        changed = self.state.readiness_changed
        last: bool | None = None
        while True:
            changed.clear()
            ready = self.dataplane.ready()
            if ready != last:
                await self._set(ready)
                last = ready
            # asyncio.timeout, unlike 3.11's wait_for, never swallows the cancel that stop() sends
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await changed.wait()

    async def stop(self, grace_s: float) -> None:
        """NOT_SERVING at once, let calls in progress finish for up to ``grace_s``, then close."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace_s)
        log.info("gRPC server stopped")
