"""REST error answers: the `ServiceError` tree rendered once, in the form of the route that failed.

* ``/v1`` and every other route: RFC 9457 problem+json (``type``, ``title``, ``status``, ``detail``,
  ``field``);
* Open Inference Protocol routes (`V2Route`, the route class of the ``/v2`` router): ``{"error": "..."}``,
  with 400 for a client error the protocol has no status for (415, 422).

A v2 route catches its own errors (`V2Route`); the app's exception handlers render the rest, and errors met
outside any route (the edge middleware's refusals, an unknown path) take the form of the router whose prefix
the path is under.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from ..errors import (
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    field_path,
)

__all__ = ["V2_PREFIX", "V2Route", "install_error_handlers", "problem_response", "render", "v2_response"]

log = logging.getLogger(__name__)

#: The prefix of the Open Inference Protocol router (its unknown paths answer in its form).
V2_PREFIX = "/v2"


def problem_response(exc: ServiceError, instance: str) -> JSONResponse:
    """RFC 9457 problem+json."""
    return JSONResponse(
        exc.to_problem(instance=instance),
        status_code=exc.status,
        headers=exc.headers(),
        media_type="application/problem+json",
    )


def v2_response(exc: ServiceError) -> JSONResponse:
    """The Open Inference Protocol's ``{"error": "..."}`` (it knows 400 for client errors besides not-found,
    auth and size)."""
    status = 400 if exc.status in (415, 422) else exc.status
    return JSONResponse({"error": exc.message()}, status_code=status, headers=exc.headers())


def as_service_error(exc: Exception, request: Request | None = None) -> ServiceError:
    """Any exception as the `ServiceError` a client sees (unexpected ones logged, as `InternalError`)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        first: dict[str, Any] = errors[0] if errors else {}
        loc = [p for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5]
        )
        return InvalidInput(detail, field=field_path(loc) or None, status=422)
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            where = f"{request.method} {request.url.path}" if request is not None else "for this path"
            return NotFound(f"no route {where}")
        if exc.status_code == 405:
            allow = (exc.headers or {}).get("Allow", "")
            method = request.method if request is not None else "this method"
            return MethodNotAllowed(f"{method} is not allowed here; allowed: {allow}", allow=allow)
        if exc.status_code == 413:
            return PayloadTooLarge(str(exc.detail))
        if exc.status_code == 415:
            return UnsupportedMediaType(str(exc.detail))
        if exc.status_code == 400:  # Starlette could not parse the body (e.g. multipart without a boundary)
            return InvalidInput(str(exc.detail), field="body")
        if exc.status_code < 500:
            return InvalidInput(str(exc.detail), status=exc.status_code)
        return InternalError(str(exc.detail))
    where = f" on {request.method} {request.url.path}" if request is not None else ""
    log.error("unhandled error%s", where, exc_info=exc)
    return InternalError(f"{type(exc).__name__}: {exc}")


def render(exc: ServiceError, scope: Scope) -> JSONResponse:
    """``exc`` in the form of the route ``scope`` is on; outside any route (the edge's refusals, an unknown
    path), in the form of the router whose prefix the path is under."""
    path: str = scope["path"]
    under_v2 = path == V2_PREFIX or path.startswith(V2_PREFIX + "/")
    if isinstance(scope.get("route"), V2Route) or under_v2:
        return v2_response(exc)
    return problem_response(exc, path)


class V2Route(APIRoute):
    """A route of the Open Inference Protocol: it answers its own errors as ``{"error": "..."}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return v2_response(as_service_error(exc, request))

        return answer


def install_error_handlers(app: FastAPI) -> None:
    """The app's handlers for what no route answered itself: every exception, rendered by `render`."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return render(as_service_error(exc, request), request.scope)

    for kind in (ServiceError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, handle)
