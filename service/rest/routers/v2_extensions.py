"""Two Open Inference Protocol extensions over REST, as Triton has them: model configuration and statistics.

* ``GET /v2/models/{name}[/versions/{version}]/config``: Triton's JSON form of ``ModelConfig``
  (`service.oip.config`);
* ``GET /v2/models[/{name}[/versions/{version}]]/stats``: ``{"model_stats": [...]}``
  (`service.oip.statistics`).

Both documents come from the shared `service.oip.Dataplane` (the gRPC ``ModelConfig`` and ``ModelStatistics``
answer the same). `create_app` includes this router before `service.rest.routers.v2`'s, so that
``/v2/models/stats`` is not read as the metadata of a model called ``stats``. `SCHEMAS` are the documents'
schemas in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ...oip import Dataplane
from ..problems import V2_PREFIX, V2Route
from . import get_dataplane

__all__ = ["SCHEMAS", "router"]

router = APIRouter(prefix=V2_PREFIX, tags=["v2 (Open Inference Protocol)"], route_class=V2Route)

_COUNT = {"type": "integer", "minimum": 0}
_DURATION_REF = {"$ref": "#/components/schemas/StatisticDuration"}
_TENSOR_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string"},
    "data_type": {"type": "string", "pattern": "^TYPE_[A-Z0-9]+$"},
    "dims": {
        "type": "array",
        "items": {"type": "integer", "minimum": -1},
        "description": "without the batch dimension when max_batch_size > 0; -1: any size",
    },
    "is_shape_tensor": {"type": "boolean"},
}
#: The schemas of this router's documents (``#/components/schemas/<name>``).
SCHEMAS: dict[str, dict[str, Any]] = {
    "ModelConfig": {
        "type": "object",
        "description": "Triton's model configuration (the fields this service fills).",
        "properties": {
            "name": {"type": "string"},
            "platform": {"type": "string"},
            "backend": {"type": "string"},
            "version_policy": {
                "type": "object",
                "description": "one of latest {num_versions}, all {}, specific {versions}",
                "properties": {
                    "latest": {"type": "object", "properties": {"num_versions": _COUNT}},
                    "all": {"type": "object"},
                    "specific": {"type": "object", "properties": {"versions": {"type": "array"}}},
                },
            },
            "max_batch_size": {**_COUNT, "description": "0: the model takes no batch dimension"},
            "input": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        **_TENSOR_PROPERTIES,
                        "format": {"type": "string"},
                        "allow_ragged_batch": {"type": "boolean"},
                        "optional": {"type": "boolean"},
                    },
                    "required": ["name", "data_type", "dims"],
                },
            },
            "output": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {**_TENSOR_PROPERTIES, "label_filename": {"type": "string"}},
                    "required": ["name", "data_type", "dims"],
                },
            },
            "dynamic_batching": {
                "type": "object",
                "properties": {
                    "preferred_batch_size": {"type": "array", "items": {"type": "integer"}},
                    "max_queue_delay_microseconds": _COUNT,
                    "preserve_ordering": {"type": "boolean"},
                },
            },
            "instance_group": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "kind": {"enum": ["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]},
                        "count": _COUNT,
                        "gpus": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
            "default_model_filename": {"type": "string"},
        },
        "required": ["name", "platform", "max_batch_size", "input", "output"],
    },
    "StatisticDuration": {
        "type": "object",
        "description": "a count and the nanoseconds the counted events took in all",
        "properties": {"count": _COUNT, "ns": _COUNT},
        "required": ["count", "ns"],
    },
    "ModelStatistics": {
        "type": "object",
        "properties": {
            "model_stats": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "last_inference": {**_COUNT, "description": "ms since the epoch (0: none yet)"},
                        "inference_count": {**_COUNT, "description": "rows of the successful requests"},
                        "execution_count": {**_COUNT, "description": "model executions (batches)"},
                        "inference_stats": {
                            "type": "object",
                            "properties": {
                                stage: _DURATION_REF
                                for stage in (
                                    "success",
                                    "fail",
                                    "queue",
                                    "compute_input",
                                    "compute_infer",
                                    "compute_output",
                                    "cache_hit",
                                    "cache_miss",
                                )
                            },
                            "required": ["success", "fail", "queue", "compute_input", "compute_infer"],
                        },
                        "batch_stats": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "batch_size": _COUNT,
                                    "compute_input": _DURATION_REF,
                                    "compute_infer": _DURATION_REF,
                                    "compute_output": _DURATION_REF,
                                },
                                "required": [
                                    "batch_size",
                                    "compute_input",
                                    "compute_infer",
                                    "compute_output",
                                ],
                            },
                        },
                        "memory_usage": {"type": "array"},
                    },
                    "required": [
                        "name",
                        "version",
                        "last_inference",
                        "inference_count",
                        "execution_count",
                        "inference_stats",
                        "batch_stats",
                    ],
                },
            }
        },
        "required": ["model_stats"],
    },
}


def _answers(schema: str, *, named: bool = True) -> dict[int | str, dict[str, Any]]:
    ok = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    answers: dict[int | str, dict[str, Any]] = {200: {"description": "the document", **ok}}
    if named:
        answers[404] = {"description": "unknown model or version"}
    return answers


_CONFIG = _answers("ModelConfig")
_STATS = _answers("ModelStatistics")


@router.get(
    "/models/stats", summary="Statistics of every model", responses=_answers("ModelStatistics", named=False)
)
async def all_statistics(dataplane: Dataplane = Depends(get_dataplane)) -> Any:
    """Counts and cumulative durations of every ready version of every model (Triton's statistics)."""
    return dataplane.model_statistics()


@router.get("/models/{name}/stats", summary="Model statistics", responses=_STATS, response_model=None)
async def model_statistics(name: str, dataplane: Dataplane = Depends(get_dataplane)) -> Any:
    """Statistics of every ready version of the model."""
    return dataplane.model_statistics(name)


@router.get(
    "/models/{name}/versions/{version}/stats",
    summary="Model version statistics",
    responses=_STATS,
    response_model=None,
)
async def model_version_statistics(
    name: str, version: str, dataplane: Dataplane = Depends(get_dataplane)
) -> Any:
    """Statistics of one version of the model (zeros until it has run)."""
    return dataplane.model_statistics(name, version)


@router.get("/models/{name}/config", summary="Model configuration", responses=_CONFIG, response_model=None)
async def model_config(name: str, dataplane: Dataplane = Depends(get_dataplane)) -> Any:
    """The configuration of the model's default version, in Triton's JSON form of ``ModelConfig``."""
    return dataplane.model_config(name)


@router.get(
    "/models/{name}/versions/{version}/config", summary="Model version configuration", responses=_CONFIG
)
async def model_version_config(name: str, version: str, dataplane: Dataplane = Depends(get_dataplane)) -> Any:
    """The configuration of one version of the model."""
    return dataplane.model_config(name, version)
