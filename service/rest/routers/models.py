"""``GET /v1/models``: every model and version, its state, providers and what it detects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ...core.state import ServiceState
from . import get_state

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", summary="List models")
async def list_models(state: ServiceState = Depends(get_state)) -> dict[str, Any]:
    """Models in the repository with, per version: state (loading / ready / failed), providers, classes."""
    models = []
    for name in state.registry.names():
        versions = state.registry.versions(name)
        default = state.registry.get(name).version  # the newest ready version
        models.append(
            {
                "name": name,
                "default_version": default,
                "ready": state.registry.get(name).ready,  # the default version serves
                "versions": [
                    {
                        "version": mv.version,
                        "state": mv.state,
                        "ready": mv.ready,
                        "error": mv.error,
                        "providers": mv.providers,
                        "task": mv.metadata.get("task"),
                        "classes": mv.classes,
                        "max_batch_size": mv.batcher.max_batch_size if mv.batcher else None,
                        "input": mv.metadata.get("input"),
                        "training": mv.metadata.get("training"),
                        "evaluation": mv.metadata.get("evaluation"),
                    }
                    for mv in versions
                ],
            }
        )
    return {"models": models, "ready": state.ready}
