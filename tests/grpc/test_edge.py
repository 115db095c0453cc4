"""The one mapping from the exception tree (and the loss library's input errors) to gRPC statuses."""

from __future__ import annotations

import grpc
import pytest

from losses import LossInputError
from service.errors import (
    InternalError,
    InvalidInput,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    Timeout,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    map_errors,
)
from service.grpc.interceptor import status_of


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInput("must be finite", field="predictions"), grpc.StatusCode.INVALID_ARGUMENT),
        (UnsupportedMediaType("text/plain"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("unknown model 'x'", field="model"), grpc.StatusCode.NOT_FOUND),
        (PayloadTooLarge("too big"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Overloaded("queue full", retry_after=2.0), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Timeout("no answer within 1 s"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (Unauthenticated("no key"), grpc.StatusCode.UNAUTHENTICATED),
        (Unavailable("shutting down"), grpc.StatusCode.UNAVAILABLE),
        (InternalError("batch failed"), grpc.StatusCode.INTERNAL),
    ],
)
def test_service_errors_map_to_their_grpc_code(error, code) -> None:
    got, message = status_of(error)
    assert got == code
    assert message == error.message()


def test_loss_input_errors_are_invalid_argument_naming_the_argument() -> None:
    # the core translates the loss library's errors (map_errors); the edge maps the result
    with pytest.raises(InvalidInput) as err, map_errors():
        raise LossInputError("gamma", "must be >= 0, got -1")
    code, message = status_of(err.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "gamma" in message


def test_anything_else_is_internal() -> None:
    code, message = status_of(RuntimeError("boom"))
    assert code == grpc.StatusCode.INTERNAL and "RuntimeError: boom" in message
