"""The REST edge: one pure ASGI middleware run before routing (draining, API key, body limit, metrics).

Its refusals are rendered by `service.rest.problems.render`, in the form of the route the path would reach.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.state import ServiceState
from ..errors import InvalidInput, PayloadTooLarge, ServiceError, Unauthenticated, Unavailable
from .problems import render

__all__ = ["OPEN_PATHS", "EdgeMiddleware"]

#: Paths that need no API key and stay open while draining.
OPEN_PATHS = ("/v2/health/", "/metrics", "/docs", "/openapi.json", "/redoc")


class EdgeMiddleware:
    """Pure ASGI middleware run before routing.

    * refuses new work while draining (503), except health and metrics;
    * checks the API key (``X-API-Key``, constant-time) when keys are configured, except open paths;
    * refuses a declared ``Content-Length`` over the limit (413) before reading, and counts streamed bytes;
    * counts requests and observes latency by route template and status; tracks requests in flight.
    """

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app, self.state = app, state
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
                await render(error, scope)(scope, receive, send_counting)
            else:
                self.state.enter()
                try:
                    await self.app(scope, self._limited(receive), send_counting)
                finally:
                    self.state.leave()
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
        if self.state.api_keys.enabled:
            try:
                self.state.api_keys.check(headers.get(b"x-api-key"))
            except Unauthenticated as exc:
                return exc
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
