"""REST routers, one per resource; `service.rest.app.create_app` includes them."""

from __future__ import annotations

from fastapi import Request

from ...core.state import ServiceState
from ...oip import Dataplane

__all__ = ["get_dataplane", "get_state"]


async def get_state(request: Request) -> ServiceState:
    """The `ServiceState` of the app serving ``request`` (async: FastAPI would run a plain ``def`` dependency
    in its thread pool, a thread hop per request)."""
    state: ServiceState = request.app.state.service
    return state


async def get_dataplane(request: Request) -> Dataplane:
    """The Open Inference Protocol `Dataplane` of the app serving ``request``."""
    dataplane: Dataplane = request.app.state.dataplane
    return dataplane
