"""REST routers, one per resource; `service.app.create_app` includes them."""

from __future__ import annotations

from fastapi import Request

from ..state import ServiceState

__all__ = ["get_state"]


def get_state(request: Request) -> ServiceState:
    """The `ServiceState` of the app serving ``request``."""
    state: ServiceState = request.app.state.service
    return state
