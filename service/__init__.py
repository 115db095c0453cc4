"""Inference and scoring service over the model repository (no torch at run time).

`Settings` configures it; `Runtime` runs the REST and gRPC servers as siblings (``python -m service``);
`create_app` builds the REST app alone. The layout: `service.core` (no transport), `service.oip` (the Open
Inference Protocol), `service.rest` and `service.grpc` (the edges).
"""

from __future__ import annotations

from ._version import __version__
from .errors import (
    AnswerTooLarge,
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RequestTimeout,
    ServiceError,
    Timeout,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from .rest import create_app
from .runtime import Runtime
from .settings import Settings

__all__ = [
    "AnswerTooLarge",
    "InternalError",
    "InvalidInput",
    "MethodNotAllowed",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "RequestTimeout",
    "Runtime",
    "ServiceError",
    "Settings",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "__version__",
    "create_app",
]
