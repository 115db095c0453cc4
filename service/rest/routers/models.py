"""``GET /v1/models``: every model and version, its state, providers and what it does: the repository's
models and the loss models of the Open Inference Protocol (``task: "loss"``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ...core.state import ServiceState
from ...oip import Dataplane
from ...oip.loss_models import LossV2Model
from . import get_dataplane, get_state

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", summary="List models")
async def list_models(
    state: ServiceState = Depends(get_state), dataplane: Dataplane = Depends(get_dataplane)
) -> dict[str, Any]:
    """Models in the repository with, per version: state (loading / ready / failed), providers, classes;
    then the loss models (always ready; run them with ``/v2/models/{name}/infer`` or ``/v1/score``)."""
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
    for name in dataplane.models.names():
        model = dataplane.models.get(name)
        if isinstance(model, LossV2Model):
            models.append(_loss_model(model))
    return {"models": models, "ready": state.ready}


def _loss_model(model: LossV2Model) -> dict[str, Any]:
    version = {
        "version": model.versions()[0],
        "state": "ready",
        "ready": True,
        "task": "loss",
        "loss": model.loss,
        "platform": model.platform,
        "inputs": [t.to_dict() for t in model.inputs()],
        "outputs": [t.to_dict() for t in model.outputs()],
    }
    return {"name": model.name, "default_version": version["version"], "ready": True, "versions": [version]}
