"""The gRPC edge, mirroring the REST one: API key, draining, in-flight count, deadlines, the error mapping.

`EdgeInterceptor` wraps every method of the application services (health and reflection pass untouched):

- API key: when ``settings.api_keys`` is set, metadata ``x-api-key`` must equal one of them (constant-time
  comparison, every key compared) or the call ends UNAUTHENTICATED;
- draining: after SIGTERM new calls end UNAVAILABLE; calls in progress count in ``state.inflight`` so the
  drain waits for them;
- metrics: each call counts in the app's request metrics (method ``GRPC``, route = the gRPC method, status =
  the status code name);
- errors: a `ServiceError` ends the call with the status named by its ``grpc_code`` and its one-line message
  (the core has already translated foreign errors, `service.errors.map_errors`); anything else is logged and
  ends INTERNAL.

`call_timeout` is the one place a servicer reads the client's deadline.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError
from grpc import aio

from ..core.deadline import remaining_timeout
from ..core.state import ServiceState
from ..errors import InvalidInput, ServiceError, Unauthenticated, Unavailable

__all__ = [
    "EXEMPT_PREFIXES",
    "EdgeInterceptor",
    "MalformedRequest",
    "call_timeout",
    "checked",
    "metadata_value",
    "status_of",
]

log = logging.getLogger(__name__)

#: Services that need no API key and stay open while draining: probes and tooling.
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

Handler: TypeAlias = Any  # grpc.RpcMethodHandler
Context: TypeAlias = Any  # grpc.aio.ServicerContext (grpc ships no type information)


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client sees for an exception raised by a method."""
    if isinstance(exc, ServiceError):
        return getattr(grpc.StatusCode, exc.grpc_code, grpc.StatusCode.INTERNAL), exc.message()
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def metadata_value(metadata: Sequence[tuple[str, str | bytes]] | None, key: str) -> str | bytes | None:
    """The first value of ``key`` in a call's metadata (keys arrive lower-case), or None."""
    return next((v for k, v in metadata or () if k == key), None)


def call_timeout(state: ServiceState, context: Context) -> float:
    """The time this call may take: the request timeout setting, shortened by the client's deadline."""
    return remaining_timeout(state.settings.request_timeout_s, client_remaining_s=context.time_remaining())


@dataclass(frozen=True)
class MalformedRequest:
    """What a method receives in place of a message whose bytes did not parse (answered INVALID_ARGUMENT by
    the method, instead of the UNKNOWN grpc gives a deserializer that raised)."""

    error: str


def checked(request: Any) -> Any:
    """``request``, or `InvalidInput` if its bytes did not parse (`MalformedRequest`)."""
    if isinstance(request, MalformedRequest):
        raise InvalidInput(f"not a valid message: {request.error}", field="request")
    return request


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(wire: bytes) -> Any:
        try:
            return deserializer(wire)
        except DecodeError as exc:
            return MalformedRequest(str(exc))

    return parse


@dataclass
class _Call:
    started: float = field(default_factory=time.perf_counter)
    code: str = "OK"


class EdgeInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    """The one place where gRPC calls are authenticated, counted, refused while draining, errors mapped."""

    def __init__(self, state: ServiceState) -> None:
        self._state = state

    def _refusal(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> ServiceError | None:
        """Unauthenticated unless no keys are configured or metadata ``x-api-key`` matches one."""
        keys = self._state.api_keys
        if not keys.enabled:
            return None
        try:
            keys.check(metadata_value(metadata, "x-api-key"))
        except Unauthenticated as exc:
            return exc
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(EXEMPT_PREFIXES):
            return handler
        return self._wrap(handler, details.method, self._refusal(details.invocation_metadata))

    async def _enter(self, refusal: ServiceError | None) -> None:
        if refusal is not None:
            raise refusal
        if self._state.draining:
            raise Unavailable("the service is shutting down")
        self._state.enter()

    async def _fail(self, exc: BaseException, context: Context, method: str, call: _Call) -> None:
        code, message = status_of(exc)
        call.code = code.name
        if code == grpc.StatusCode.INTERNAL:
            log.error("gRPC %s failed", method, exc_info=exc)
        if isinstance(exc, ServiceError) and (retry := exc.headers().get("Retry-After")):
            context.set_trailing_metadata((("retry-after", retry),))
        await context.abort(code, message)

    def _observe(self, method: str, call: _Call) -> None:
        """Count the call and its latency in the app's request metrics (method ``GRPC``, status code name)."""
        metrics = self._state.metrics
        metrics.requests.labels("GRPC", method, call.code).inc()
        metrics.latency.labels("GRPC", method).observe(time.perf_counter() - call.started)

    @contextlib.asynccontextmanager
    async def _edge(self, context: Context, method: str, refusal: ServiceError | None) -> AsyncIterator[None]:
        """Around one call: refusal, draining, in-flight count, error mapping, metrics."""
        call = _Call()
        try:
            try:
                await self._enter(refusal)
            except ServiceError as exc:
                await self._fail(exc, context, method, call)
            try:
                yield
            except aio.AbortError:
                raise
            except Exception as exc:
                await self._fail(exc, context, method, call)
            finally:
                self._state.leave()
        finally:
            self._observe(method, call)

    def _wrap(self, handler: Handler, method: str, refusal: ServiceError | None) -> Handler:
        """The same handler inside the edge (`_edge`)."""
        des, ser = _tolerant(handler.request_deserializer), handler.response_serializer

        async def unary(request: Any, context: Context) -> Any:
            async with self._edge(context, method, refusal):
                return await handler.unary_unary(checked(request), context)

        async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
            inner = handler.unary_stream or handler.stream_stream
            async with self._edge(context, method, refusal):
                async for item in inner(request, context):
                    yield item

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(unary, des, ser)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(streaming, des, ser)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(streaming, des, ser)
        return handler  # stream-unary: no method of this service has that shape
