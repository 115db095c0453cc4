"""The statistics extension: Triton's ``model_stats`` of v2 model versions, for both edges.

The counts and durations are kept by the core (`service.core.statistics.ModelStatistics`, one per model
version: the batcher's, or a loss model's own); this module only picks the versions asked for and names each
entry. REST sends the document as JSON (integers as numbers), gRPC parses it into
``inference.ModelStatisticsResponse``.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from .registry import V2ModelRegistry

__all__ = ["model_statistics"]


def model_statistics(models: V2ModelRegistry, name: str | None, version: str | None) -> dict[str, Any]:
    """``{"model_stats": [...]}``: every model (``name`` None), every version of ``name`` that is ready
    (``version`` None), or that one version, ready or not (zeros until it runs).

    Raises:
        NotFound: unknown model or version. InvalidInput: a version without a model name.
    """
    if name is None:
        if version is not None:
            raise InvalidInput("statistics of a version need the model's name", field="version")
        every = [models.get(n) for n in models.names()]
        chosen = [(m, v) for m in every for v in m.versions() if m.is_ready(v)]
    else:
        model = models.check_version(name, version)
        versions = [version] if version is not None else [v for v in model.versions() if model.is_ready(v)]
        chosen = [(model, v) for v in versions]
    return {
        "model_stats": [
            {"name": model.name, "version": v, **model.statistics(v).snapshot()} for model, v in chosen
        ]
    }
