"""The REST edge: one pure ASGI middleware run before routing (draining, API key, body limit, metrics).

Its refusals are rendered by `service.rest.problems.render`, in the form of the route the path would reach.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.state import ServiceState
from ..errors import InvalidInput, PayloadTooLarge, RequestTimeout, ServiceError, Unauthenticated, Unavailable
from .problems import render

__all__ = ["OPEN_EXACT", "OPEN_PATHS", "EdgeMiddleware"]

#: Paths that need no API key and stay open while draining.
OPEN_PATHS = ("/v2/health/", "/metrics", "/docs", "/openapi.json", "/redoc", "/console/")
#: Exact paths that need no API key: the web console's page (its files hold no data; its calls carry the key).
OPEN_EXACT = ("/",)


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
        open_path = path.startswith(OPEN_PATHS) or path in OPEN_EXACT
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
                    await self._serve(scope, receive, send_counting, status)
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

    async def _serve(self, scope: Scope, receive: Receive, send: Send, status: list[int]) -> None:
        """Run the app; a POST whose client goes away once its body is in is cancelled, so that its queued
        work leaves the batcher instead of running for nobody (status 499 in the metrics)."""
        if scope["method"] != "POST":
            await self.app(scope, self._limited(receive), send)
            return
        task = asyncio.current_task()
        assert task is not None
        answered = False
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            if not answered:  # uvicorn also says disconnect once the answer is complete
                gone = True
                task.cancel()

        watcher: list[asyncio.Task[None]] = []

        def body_complete() -> None:
            watcher.append(asyncio.get_running_loop().create_task(watch()))

        async def send_marking(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        try:
            await self.app(scope, self._limited(receive, body_complete), send_marking)
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
            status[0] = 499
        finally:
            for w in watcher:
                w.cancel()

    def _limited(self, receive: Receive, on_complete: Callable[[], None] | None = None) -> Receive:
        """``receive`` with the body limit and the body deadline: the body must be in within
        ``body_timeout_s`` plus its size at ``min_body_rate_bytes_s`` (`RequestTimeout`, 408, after).
        ``on_complete`` is called once the whole body is in."""
        limit = self.limit
        settings = self.state.settings
        allowance, rate = settings.body_timeout_s, float(settings.min_body_rate_bytes_s)
        started = time.monotonic()
        seen = 0
        complete = False

        async def receive_limited() -> Message:
            nonlocal seen, complete
            if complete:  # after the body, receive only waits for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout(started + allowance + seen / rate - time.monotonic()):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the body did not arrive in time ({seen} bytes in {time.monotonic() - started:.1f} s; "
                    f"allowed: {allowance:g} s plus {rate:g} bytes/s)",
                    field="body",
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(f"the body is more than the limit of {limit} bytes", field="body")
                complete = not message.get("more_body", False)
                if complete and on_complete is not None:
                    on_complete()
            return message

        return receive_limited
