"""The REST edge: one ASGI middleware (limits, auth, draining, metrics) and the one error mapping.

Errors become RFC 9457 problem+json under ``/v1`` (and elsewhere), ``{"error": "..."}`` under ``/v2``.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import (
    InternalError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from .state import ServiceState

__all__ = ["EdgeMiddleware", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

#: Paths that need no API key and stay open while draining.
OPEN_PATHS = ("/v2/health/", "/metrics", "/docs", "/openapi.json", "/redoc")


def error_response(exc: ServiceError, path: str) -> JSONResponse:
    """The HTTP response for a service error at ``path`` (``/v2...``: ``{"error"}``, else problem+json)."""
    headers = exc.headers()
    if path == "/v2" or path.startswith("/v2/"):
        # the Open Inference Protocol knows 400 for client errors besides not-found / auth / size
        status = 400 if exc.status in (415, 422) else exc.status
        return JSONResponse({"error": exc.message()}, status_code=status, headers=headers)
    return JSONResponse(
        exc.to_problem(instance=path),
        status_code=exc.status,
        headers=headers,
        media_type="application/problem+json",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to a response once: service errors, validation errors, HTTP errors, the rest."""

    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return error_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first: dict[str, Any] = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5]
        )
        return error_response(InvalidInput(detail, field=field, status=422), request.url.path)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error: ServiceError
        if exc.status_code == 404:
            error = NotFound(f"no route {request.method} {request.url.path}")
        elif exc.status_code == 413:
            error = PayloadTooLarge(str(exc.detail))
        elif exc.status_code == 415:
            error = UnsupportedMediaType(str(exc.detail))
        elif exc.status_code < 500:
            error = InvalidInput(str(exc.detail), status=exc.status_code)
        else:
            error = InternalError(str(exc.detail))
        return error_response(error, request.url.path)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(InternalError(f"{type(exc).__name__}: {exc}"), request.url.path)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


class EdgeMiddleware:
    """Pure ASGI middleware run before routing.

    * refuses new work while draining (503), except health and metrics;
    * checks the API key (``X-API-Key``, constant-time) when keys are configured, except open paths;
    * refuses a declared ``Content-Length`` over the limit (413) before reading, and counts streamed bytes;
    * counts requests and observes latency by route template and status; tracks requests in flight.
    """

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app, self.state = app, state
        self.keys = [k.get_secret_value().encode() for k in state.settings.api_keys]
        self.limit = state.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        open_path = path.startswith(OPEN_PATHS)
        started = time.perf_counter()
        status = [500]

        async def send_counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        error = self._refuse(scope, open_path)
        try:
            if error is not None:
                await error_response(error, path)(scope, receive, send_counting)
            else:
                self.state.inflight += 1
                try:
                    await self.app(scope, self._limited(receive), send_counting)
                finally:
                    self.state.inflight -= 1
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            m = self.state.metrics
            m.requests.labels(scope["method"], template, str(status[0])).inc()
            m.latency.labels(scope["method"], template).observe(time.perf_counter() - started)

    def _refuse(self, scope: Scope, open_path: bool) -> ServiceError | None:
        if open_path:
            return None
        if self.state.draining:
            return Unavailable("the service is shutting down")
        headers = dict(scope["headers"])
        if self.keys:
            given = headers.get(b"x-api-key")
            # compare against every key (no early exit) so timing says nothing about which key is close
            if given is None or not any([hmac.compare_digest(given, key) for key in self.keys]):
                return Unauthenticated("missing or wrong API key (header X-API-Key)", field="X-API-Key")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return InvalidInput("Content-Length is not an integer", field="Content-Length")
            if declared > self.limit:
                return PayloadTooLarge(
                    f"the body is {declared} bytes, more than the limit of {self.limit} bytes", field="body"
                )
        return None

    def _limited(self, receive: Receive) -> Receive:
        seen = [0]
        limit = self.limit

        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    raise PayloadTooLarge(f"the body is more than the limit of {limit} bytes", field="body")
            return message

        return receive_limited
