"""The models the Open Inference Protocol (v2) lists: the repository's models and the loss models.

A v2 model only needs to describe itself (`V2Model`); running ``infer`` is the dataplane's business
(`service.oip.dataplane`). Repository models are adapted by `RepositoryV2Model`, the losses by
`service.oip.loss_models.LossV2Model`; the dataplane registers both.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..core.model_version import TensorSpec
from ..core.repository import ModelRegistry
from ..core.statistics import ModelStatistics
from ..errors import NotFound

__all__ = ["RepositoryV2Model", "V2Model", "V2ModelRegistry"]


class V2Model(Protocol):
    """What v2 metadata and readiness need from a model. ``version=None`` means the default version."""

    @property
    def name(self) -> str: ...

    @property
    def platform(self) -> str: ...

    def versions(self) -> list[str]: ...

    def is_ready(self, version: str | None = None) -> bool: ...

    def inputs(self, version: str | None = None) -> list[TensorSpec]: ...

    def outputs(self, version: str | None = None) -> list[TensorSpec]: ...

    def statistics(self, version: str) -> ModelStatistics:
        """The version's statistics (`service.core.statistics`); zeros for a version that never ran."""
        ...


class RepositoryV2Model:
    """A repository model (every version) seen as a v2 model; ``platform`` is ``onnxruntime_onnx``."""

    platform = "onnxruntime_onnx"

    def __init__(self, registry: ModelRegistry, name: str) -> None:
        self._registry, self._name = registry, name

    @property
    def name(self) -> str:
        return self._name

    def versions(self) -> list[str]:
        return [mv.version for mv in self._registry.versions(self._name)]

    def is_ready(self, version: str | None = None) -> bool:
        return self._registry.get(self._name, version).ready

    def inputs(self, version: str | None = None) -> list[TensorSpec]:
        return self._registry.get(self._name, version).inputs

    def outputs(self, version: str | None = None) -> list[TensorSpec]:
        return self._registry.get(self._name, version).outputs

    def statistics(self, version: str) -> ModelStatistics:
        batcher = self._registry.get(self._name, version).batcher
        return batcher.statistics if batcher is not None else ModelStatistics()


class V2ModelRegistry:
    """Name -> `V2Model`, in registration order."""

    def __init__(self) -> None:
        self._models: dict[str, V2Model] = {}

    def register(self, model: V2Model) -> None:
        """Add a model. Raises `ValueError` if the name is taken."""
        if model.name in self._models:
            raise ValueError(f"a v2 model named {model.name!r} is already registered")
        self._models[model.name] = model

    def names(self) -> list[str]:
        return list(self._models)

    def unregister(self, name: str) -> None:
        """Remove a model (no error if it is not there)."""
        self._models.pop(name, None)

    def get(self, name: str) -> V2Model:
        """The model called ``name``. Raises `NotFound`."""
        try:
            return self._models[name]
        except KeyError:
            raise NotFound(f"unknown model {name!r}", field="model") from None

    def check_version(self, name: str, version: str | None) -> V2Model:
        """The model, after checking that ``version`` (if given) exists. Raises `NotFound`."""
        model = self.get(name)
        if version is not None and version not in model.versions():
            raise NotFound(f"model {name!r} has no version {version!r}", field="version")
        return model

    def metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The v2 model metadata response. Raises `NotFound`."""
        model = self.check_version(name, version)
        return {
            "name": model.name,
            "versions": model.versions() if version is None else [version],
            "platform": model.platform,
            "inputs": [t.to_dict() for t in model.inputs(version)],
            "outputs": [t.to_dict() for t in model.outputs(version)],
        }

    def all_ready(self) -> bool:
        return all(m.is_ready(None) for m in self._models.values())
