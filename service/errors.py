"""One exception tree for the whole service, mapped to a wire format once, at the edge.

Every error a request can meet is a `ServiceError` subclass. Each carries the HTTP status and the gRPC status
code *name* (a string such as ``"INVALID_ARGUMENT"``, so this module needs no grpc import), a `title`, the
`detail` message and, for input errors, the `field` (argument) the client got wrong. The REST edge turns them
into RFC 9457 problem+json (``/v1``) or ``{"error": ...}`` (``/v2``); the gRPC edge uses `grpc_code`.

Foreign errors (pydantic's `ValidationError`, the loss library's `LossInputError`) are translated into this
tree in one place, `map_errors`, so both edges see the same error with the same message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import ValidationError

from losses import LossInputError

__all__ = [
    "AnswerTooLarge",
    "Conflict",
    "FailedPrecondition",
    "Forbidden",
    "InternalError",
    "InvalidInput",
    "MethodNotAllowed",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "RequestTimeout",
    "ServiceError",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "field_path",
    "map_errors",
]


class ServiceError(Exception):
    """Base of every error the service reports to a client.

    Attributes:
        http_status: status code of the REST response.
        grpc_code: name of the gRPC status code (a `grpc.StatusCode` member name).
        title: short, stable summary of the error class (problem+json ``title``).
        detail: the human message for this occurrence.
        field: the request argument / field at fault, when there is one.
    """

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "INTERNAL"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self._status = status

    @property
    def status(self) -> int:
        """The HTTP status of this occurrence (a subclass may allow more than one, e.g. 400 or 422)."""
        return self._status if self._status is not None else self.http_status

    @property
    def type_uri(self) -> str:
        """problem+json ``type``: a stable, relative URI per error class."""
        return "/problems/" + _kebab(type(self).__name__)

    def headers(self) -> dict[str, str]:
        """Extra HTTP response headers (e.g. ``Retry-After``)."""
        return {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem details object."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
            body["argument"] = self.field
        if instance is not None:
            body["instance"] = instance
        return body

    def message(self) -> str:
        """One-line message for ``{"error": ...}`` bodies and gRPC status details."""
        if self.field and not self.detail.startswith(self.field):
            return f"{self.field}: {self.detail}"
        return self.detail


class InvalidInput(ServiceError):
    """The request is malformed or its values are out of range (400, or 422 for schema validation)."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"
    title = "Invalid input"


class NotFound(ServiceError):
    """Unknown model, version or route (404)."""

    http_status = 404
    grpc_code = "NOT_FOUND"
    title = "Not found"


class MethodNotAllowed(ServiceError):
    """The route exists but not for this method (405, with the ``Allow`` header RFC 9110 requires)."""

    http_status = 405
    grpc_code = "UNIMPLEMENTED"
    title = "Method not allowed"

    def __init__(self, detail: str, *, allow: str) -> None:
        super().__init__(detail)
        self.allow = allow

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


class PayloadTooLarge(ServiceError):
    """Body, message or image larger than the configured limit (413)."""

    http_status = 413
    grpc_code = "RESOURCE_EXHAUSTED"
    title = "Payload too large"


class AnswerTooLarge(ServiceError):
    """The answer asked for, in the form asked for, would be larger than the configured limit (406: another
    representation, such as ``application/x-npz``, is what the client should accept)."""

    http_status = 406
    grpc_code = "RESOURCE_EXHAUSTED"
    title = "Answer too large"


class UnsupportedMediaType(ServiceError):
    """A Content-Type the endpoint does not accept (415)."""

    http_status = 415
    grpc_code = "INVALID_ARGUMENT"
    title = "Unsupported media type"


class Overloaded(ServiceError):
    """The model's queue is full: retry later (503 with ``Retry-After``)."""

    http_status = 503
    grpc_code = "RESOURCE_EXHAUSTED"
    title = "Overloaded"

    def __init__(self, detail: str, *, retry_after: float = 1.0) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class Timeout(ServiceError):
    """The request was not answered within the request timeout (504)."""

    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"
    title = "Timeout"


class RequestTimeout(ServiceError):
    """The client did not send its request (its body) in time (408; the connection is closed)."""

    http_status = 408
    grpc_code = "DEADLINE_EXCEEDED"
    title = "Request timeout"

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


class Unavailable(ServiceError):
    """The service or model is not ready: loading, failed, or shutting down (503)."""

    http_status = 503
    grpc_code = "UNAVAILABLE"
    title = "Unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class Unauthenticated(ServiceError):
    """Missing or wrong API key (401)."""

    http_status = 401
    grpc_code = "UNAUTHENTICATED"
    title = "Unauthenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


class Forbidden(ServiceError):
    """The caller is known but may not do this (403): the model repository API without the admin key."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"
    title = "Forbidden"


class Conflict(ServiceError):
    """The request contradicts what the server already holds (409): a scoring session's chunk id sent
    again with different data. gRPC ALREADY_EXISTS: the chunk exists; retrying the same call cannot help."""

    http_status = 409
    grpc_code = "ALREADY_EXISTS"
    title = "Conflict"


class FailedPrecondition(ServiceError):
    """The request is well formed but the server is not in a state to do it (400, as Triton answers it): a
    model load or unload while the model control mode is not ``explicit``."""

    http_status = 400
    grpc_code = "FAILED_PRECONDITION"
    title = "Failed precondition"


class InternalError(ServiceError):
    """A failure inside the service (e.g. a model run that raised): not the client's fault (500).

    Over HTTP the answer says ``Connection: close``: after an unexpected error the server closes the
    connection, and a client told so opens a new one instead of having its next request reset.
    """

    http_status = 500
    grpc_code = "INTERNAL"
    title = "Internal error"

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


def _kebab(name: str) -> str:
    out = [("-" + c.lower()) if c.isupper() and i else c.lower() for i, c in enumerate(name)]
    return "".join(out)


def field_path(loc: Sequence[str | int], prefix: str = "") -> str:
    """A request field in the service's one style: ``("losses", 0, "gamma")`` -> ``losses[0].gamma``."""
    out = prefix
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


#: How a foreign error's argument becomes a request field (``None``: leave it as it is).
Rename = Callable[[str], str]


@contextmanager
def map_errors(rename: Rename | None = None, *, status: int | None = 422) -> Iterator[None]:
    """Translate the foreign errors raised inside into `InvalidInput`, once, for every edge.

    * pydantic's `ValidationError`: the first error, its location in `field_path` style (``status``: 422 by
      default, the status of a body that parses but does not validate);
    * the loss library's `LossInputError`: its message, naming the argument.

    ``rename`` maps the field so found to the name the caller's request uses (``losses[0].gamma`` ->
    ``parameters.gamma`` for a v2 loss model). Service errors pass through unchanged.
    """
    name = rename or (lambda field: field)
    try:
        yield
    except ValidationError as exc:
        first = exc.errors()[0]
        field = name(field_path(first["loc"]) or "body")
        raise InvalidInput(str(first["msg"]), field=field, status=status) from None
    except LossInputError as exc:
        raise InvalidInput(str(exc), field=name(exc.argument)) from None
