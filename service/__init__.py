"""Inference and scoring service over the model repository (no torch at run time).

`create_app` builds the FastAPI app (REST); `Settings` configures it; ``python -m service`` runs REST + gRPC.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .app import create_app
from .errors import (
    InternalError,
    InvalidInput,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    ServiceError,
    Timeout,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from .settings import Settings

__all__ = [
    "InternalError",
    "InvalidInput",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "ServiceError",
    "Settings",
    "Timeout",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "__version__",
    "create_app",
]
