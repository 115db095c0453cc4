"""The REST edge: the FastAPI app (`create_app`), its middleware, body readers, error forms and routers."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
