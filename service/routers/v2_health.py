"""Open Inference Protocol (KServe v2) health and metadata: ``/v2/health/*``, ``/v2``, ``/v2/models/...``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from .. import __version__
from ..state import ServiceState
from . import get_state

__all__ = ["router"]

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"])

_READY: dict[int | str, dict[str, Any]] = {
    200: {"description": "ready"},
    503: {"description": "not ready", "content": {"application/json": {}}},
}


@router.get("/health/live", summary="Server liveness")
async def live() -> dict[str, bool]:
    """200 while the process serves HTTP at all."""
    return {"live": True}


@router.get("/health/ready", summary="Server readiness", responses=_READY)
async def ready(response: Response, state: ServiceState = Depends(get_state)) -> dict[str, bool]:
    """200 when every model is loaded and warmed up and the server is not draining, else 503."""
    ok = state.ready
    response.status_code = 200 if ok else 503
    return {"ready": ok}


@router.get("", summary="Server metadata")
async def server_metadata(state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    """Name, version and the protocol extensions this server implements."""
    return {"name": "focalserve", "version": __version__, "extensions": list(state.v2_extensions)}


@router.get("/models/{name}", summary="Model metadata")
async def model_metadata(name: str, state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    """Versions, platform, input and output tensors of the model's default version."""
    return state.v2_models.metadata(name)


@router.get("/models/{name}/versions/{version}", summary="Model version metadata")
async def model_version_metadata(
    name: str, version: str, state: ServiceState = Depends(get_state)
) -> dict[str, Any]:
    """Metadata of one version of a model."""
    return state.v2_models.metadata(name, version)


@router.get("/models/{name}/ready", summary="Model readiness", responses=_READY)
async def model_ready(
    name: str, response: Response, state: ServiceState = Depends(get_state)
) -> dict[str, Any]:
    """200 when the model's default version is loaded and warm, 503 otherwise, 404 if unknown."""
    return _ready(state, name, None, response)


@router.get("/models/{name}/versions/{version}/ready", summary="Model version readiness", responses=_READY)
async def model_version_ready(
    name: str, version: str, response: Response, state: ServiceState = Depends(get_state)
) -> dict[str, Any]:
    """200 when that version is loaded and warm, 503 otherwise, 404 if unknown."""
    return _ready(state, name, version, response)


def _ready(state: ServiceState, name: str, version: str | None, response: Response) -> dict[str, Any]:
    model = state.v2_models.check_version(name, version)
    ok = model.is_ready(version) and not state.draining
    response.status_code = 200 if ok else 503
    return {"name": name, "ready": ok}
