"""The Open Inference Protocol's dataplane: every call of the protocol, once, for the REST and gRPC edges.

- health: `live`, `ready` (the server), `model_ready`;
- metadata: `server_metadata`, `model_metadata`;
- the model configuration and statistics extensions: `model_config` (`service.oip.config`),
  `model_statistics` (`service.oip.statistics`);
- the model repository extension: `repository_index`, `load_model`, `unload_model`
  (`service.core.model_control`);
- `infer`: repository (ONNX) models, whose request tensors are checked against the graph's inputs and run
  through the model version's dynamic batcher (so v2 callers share batches with ``/v1`` detection), and the
  loss models (`service.oip.loss_models`).

The edges only translate their wire form (JSON documents and binary tails, protobuf messages) to and from
these calls' plain values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from .._version import __version__
from ..core.datatypes import datatype_of
from ..core.model_version import TensorSpec
from ..core.state import ServiceState
from ..errors import InternalError, InvalidInput
from .config import model_config
from .loss_models import LOSS_MODELS, LOSS_VERSION, LossV2Model, infer_loss
from .registry import RepositoryV2Model, V2ModelRegistry
from .statistics import model_statistics

__all__ = ["EXTENSIONS", "SERVER_NAME", "Dataplane", "InferResult", "check_inputs", "check_outputs"]

Arrays = dict[str, npt.NDArray[Any]]

SERVER_NAME = "focalserve"
#: Protocol extensions this server implements (listed by server metadata), by Triton's names.
EXTENSIONS = ("binary_tensor_data", "model_configuration", "model_repository", "statistics")


@dataclass(frozen=True)
class InferResult:
    """A v2 inference answer: the model version that ran and its outputs (only those requested)."""

    model: str
    version: str
    outputs: Arrays


def check_inputs(model: str, specs: list[TensorSpec], inputs: Mapping[str, npt.NDArray[Any]]) -> None:
    """Request tensors must be exactly the model's inputs, with its datatypes and fixed dimensions.

    Raises:
        InvalidInput: a missing, unknown, mistyped or misshapen input, naming it.
    """
    expected = {t.name: t for t in specs}
    unknown = sorted(set(inputs) - set(expected))
    if unknown:
        raise InvalidInput(
            f"model {model} has no input {unknown[0]!r} (inputs: {sorted(expected)})", field="inputs"
        )
    missing = sorted(set(expected) - set(inputs))
    if missing:
        raise InvalidInput(f"model {model} needs input {missing[0]!r}", field="inputs")
    for name, spec in expected.items():
        array, field = inputs[name], f"inputs.{name}"
        got = datatype_of(array.dtype)
        if got != spec.datatype:
            raise InvalidInput(f"datatype {got}, but model {model} takes {spec.datatype}", field=field)
        shape = list(array.shape)
        if len(shape) != len(spec.shape) or any(
            d not in (-1, s) for d, s in zip(spec.shape, shape, strict=True)
        ):
            raise InvalidInput(
                f"shape {shape} does not match model {model}'s {spec.shape} (-1: any size)", field=field
            )


class Dataplane:
    """The protocol over one `ServiceState`: the repository's models and the loss models, as v2 models."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.models = V2ModelRegistry()
        self.sync_models()
        for name in LOSS_MODELS:
            if name not in self.models.names():
                self.models.register(LossV2Model(name))
        state.on_repository_change.append(self.sync_models)

    def sync_models(self) -> None:
        """List the repository's models as they are now (the live repository adds and removes models)."""
        repository = set(self.state.registry.names())
        for name in self.models.names():
            if isinstance(self.models.get(name), RepositoryV2Model) and name not in repository:
                self.models.unregister(name)
        for name in sorted(repository - set(self.models.names())):
            self.models.register(RepositoryV2Model(self.state.registry, name))

    def live(self) -> bool:
        """The process serves at all."""
        return True

    def ready(self) -> bool:
        """Every model loaded and warm, and not draining."""
        return self.state.ready and self.models.all_ready()

    def model_ready(self, name: str, version: str | None = None) -> bool:
        """The model's version (``None``: the default) is warm and the server is not draining.

        Raises:
            NotFound: unknown model or version.
        """
        model = self.models.check_version(name, version or None)
        return model.is_ready(version or None) and not self.state.draining

    def server_metadata(self) -> dict[str, Any]:
        """``name``, ``version`` and ``extensions``."""
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """``name``, ``versions``, ``platform``, ``inputs`` and ``outputs``. Raises `NotFound`."""
        return self.models.metadata(name, version or None)

    def model_config(self, name: str, version: str | None = None) -> dict[str, Any]:
        """Triton's ``ModelConfig`` of the model's version (None: the default). Raises `NotFound`."""
        return model_config(self.models.check_version(name, version or None), version or None, self.state)

    def model_statistics(self, name: str | None = None, version: str | None = None) -> dict[str, Any]:
        """Triton's ``{"model_stats": [...]}``: every model's ready versions (``name`` None), every ready
        version of ``name`` (``version`` None), or that version. Raises `NotFound`, `InvalidInput`."""
        return model_statistics(self.models, name or None, version or None)

    async def repository_index(
        self, admin_key: str | bytes | None, *, ready: bool = False
    ) -> list[dict[str, str]]:
        """Triton's repository index: ``{"name", "version", "state", "reason"}`` per model folder / version.
        Raises `Forbidden`."""
        return await self.state.model_control.index(admin_key, ready=ready)

    async def load_model(self, name: str, admin_key: str | bytes | None, config: str | None = None) -> None:
        """Load (or reload) model ``name``, ``config`` (JSON ``ModelConfig``) instead of its config.pbtxt.
        Raises `Forbidden`, `FailedPrecondition`, `NotFound`, `InvalidInput`."""
        await self.state.model_control.load(name, admin_key, config)

    async def unload_model(self, name: str, admin_key: str | bytes | None) -> None:
        """Stop serving model ``name``. Raises `Forbidden`, `FailedPrecondition`, `NotFound`."""
        await self.state.model_control.unload(name, admin_key)

    async def infer(
        self,
        name: str,
        version: str | None,
        inputs: Arrays,
        parameters: Mapping[str, Any],
        requested: list[str] | None,
        timeout_s: float,
    ) -> InferResult:
        """Run v2 model ``name`` (``version`` None: the default) on ``inputs``; keep ``requested`` outputs.

        Raises:
            NotFound: unknown model or version. InvalidInput: bad tensors, outputs or parameters.
            Unavailable / Overloaded / Timeout: as the model's batcher reports.
        """
        model = self.models.check_version(name, version or None)
        if isinstance(model, LossV2Model):
            return await self._infer_loss(model, inputs, parameters, requested, timeout_s)
        mv = self.state.model(name, version or None)
        assert mv.batcher is not None  # state.model returns ready versions only
        arrived = time.monotonic()
        try:  # refused here, the request still counts as failed in the version's statistics
            keep = check_outputs(name, mv.outputs, requested)
            check_inputs(name, mv.inputs, inputs)
            if any(a.ndim == 0 or a.shape[0] == 0 for a in inputs.values()):
                raise InvalidInput(f"model {name} needs a batch dimension of at least 1", field="inputs")
        except InvalidInput:
            mv.batcher.statistics.request_failed(time.monotonic() - arrived)
            raise
        outputs = (await mv.batcher.submit(inputs, timeout_s=timeout_s)).outputs
        return _result(name, mv.version, outputs, keep)

    async def _infer_loss(
        self,
        model: LossV2Model,
        inputs: Arrays,
        parameters: Mapping[str, Any],
        requested: list[str] | None,
        timeout_s: float,
    ) -> InferResult:
        """A loss model's infer, counted as one request and one execution of one row (statistics, metrics)."""
        stats, metrics, name = model.statistics(LOSS_VERSION), self.state.metrics, model.name
        arrived = time.monotonic()
        model.pending += 1
        metrics.pending(name, LOSS_VERSION, model.pending)
        try:
            keep = check_outputs(name, model.outputs(), requested)
            run = await infer_loss(self.state, model, inputs, parameters, timeout_s)
        except BaseException:
            stats.request_failed(time.monotonic() - arrived)
            raise
        finally:
            model.pending -= 1
            metrics.pending(name, LOSS_VERSION, model.pending)
        stats.batch_ran(1, run.times)
        stats.request_succeeded(1, time.monotonic() - arrived, run.queue_s, run.times)
        metrics.batch_done(name, LOSS_VERSION, 1, [run.queue_s], run.times)
        return _result(name, LOSS_VERSION, run.outputs, keep)


def check_outputs(model: str, specs: list[TensorSpec], requested: list[str] | None) -> list[str]:
    """The outputs to answer: ``requested`` (each must be one of the model's), or all of them.

    Raises:
        InvalidInput: an output the model does not have.
    """
    known = [t.name for t in specs]
    for out in requested or ():
        if out not in known:
            raise InvalidInput(f"model {model} has no output {out!r} (outputs: {known})", field="outputs")
    return requested or known


def _result(name: str, version: str, outputs: Arrays, keep: list[str]) -> InferResult:
    missing = [k for k in keep if k not in outputs]
    if missing:
        raise InternalError(f"model {name} did not produce output {missing[0]!r}")
    return InferResult(name, version, {k: outputs[k] for k in keep})
