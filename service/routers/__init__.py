"""REST routers, one per resource; `service.app.create_app` includes them."""

from __future__ import annotations

from fastapi import Request

from ..state import ServiceState

__all__ = ["get_state"]


async def get_state(request: Request) -> ServiceState:
    """The `ServiceState` of the app serving ``request`` (async: FastAPI would run a plain ``def`` dependency
    in its thread pool, a thread hop per request)."""
    state: ServiceState = request.app.state.service
    return state
