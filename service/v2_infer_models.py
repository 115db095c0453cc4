"""What the Open Inference Protocol's infer call runs: repository (ONNX) models and the loss models.

- Repository models (e.g. the detector: ``images`` -> ``boxes, scores, labels, num_detections``): request
  tensors are checked against the ONNX graph's inputs and run through the model version's dynamic batcher, so
  v2 callers share batches with ``/v1`` detection.
- Loss models, one per loss of the `losses` package (``focal_loss``, ``cross_entropy``, ...): `LossV2Model`
  describes each for the v2 model registry (metadata, readiness); inputs ``logits`` (``probabilities`` for
  ``entropy``) and ``targets``; loss options (``alpha``, ``gamma``, ``reduction``, ``kind``, ``from_logits``,
  ...) as request ``parameters``; output ``loss`` (FP64: shape ``[1]`` when reduced, the per-element /
  per-sample values with ``reduction: "none"``), computed by the service's scoring function in the CPU pool.

`infer` is the one entry point used by both the REST infer route and gRPC ModelInfer.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

import losses
from service.errors import InternalError, InvalidInput, Timeout
from service.repository import TensorSpec
from service.scoring import LossSpec, ScoreOptions, score
from service.state import ServiceState
from service.v2_infer_codec import datatype_of

__all__ = [
    "LOSS_MODELS",
    "InferResult",
    "LossV2Model",
    "check_inputs",
    "infer",
    "loss_options",
    "register_loss_models",
]

Arrays = dict[str, npt.NDArray[Any]]

#: v2 model name -> (loss name in the scoring API, whether it takes targets, its first input's name).
LOSS_MODELS: dict[str, tuple[str, bool, str]] = {
    "focal_loss": ("focal", True, "logits"),
    "focal_loss_star": ("focal_star", True, "logits"),
    "cross_entropy": ("cross_entropy", True, "logits"),
    "kl_divergence": ("kl_divergence", True, "logits"),
    "entropy": ("entropy", False, "probabilities"),
    "hard_truncated_cross_entropy": ("hard_truncated", True, "logits"),
    "soft_truncated_cross_entropy": ("soft_truncated", True, "logits"),
}
LOSS_VERSION = "1"

#: Request parameters that belong to the protocol or to clients, not to a loss.
RESERVED_PARAMETERS = frozenset(
    {"binary_data_output", "priority", "timeout", "sequence_id", "sequence_start", "sequence_end", "headers"}
)


class LossV2Model:
    """One loss as a v2 model (the `service.v2_registry.V2Model` protocol): always ready, version ``1``."""

    platform = "focalserve_losses"

    def __init__(self, name: str) -> None:
        self._name = name
        self.loss, self.takes_targets, self.first_input = LOSS_MODELS[name]

    @property
    def name(self) -> str:
        return self._name

    def versions(self) -> list[str]:
        return [LOSS_VERSION]

    def is_ready(self, version: str | None = None) -> bool:
        return True

    def inputs(self, version: str | None = None) -> list[TensorSpec]:
        """Any shape (binary) or ``[..., C]`` (multiclass); FP32 or FP64; integer class-index targets too."""
        first = [TensorSpec(self.first_input, "FP32", [-1, -1])]
        return [*first, TensorSpec("targets", "FP32", [-1, -1])] if self.takes_targets else first

    def outputs(self, version: str | None = None) -> list[TensorSpec]:
        return [TensorSpec("loss", "FP64", [-1])]


def register_loss_models(state: ServiceState) -> None:
    """Add every loss model to the state's v2 model registry (listed, ready, metadata, infer)."""
    for name in LOSS_MODELS:
        if name not in state.v2_models.names():
            state.v2_models.register(LossV2Model(name))


def check_inputs(model: str, specs: list[TensorSpec], inputs: Mapping[str, npt.NDArray[Any]]) -> None:
    """Request tensors must be exactly the model's inputs, with its datatypes and fixed dimensions.

    Raises:
        InvalidInput: a missing, unknown, mistyped or misshapen input, naming it.
    """
    expected = {t.name: t for t in specs}
    unknown = sorted(set(inputs) - set(expected))
    if unknown:
        raise InvalidInput(
            f"inputs: model {model} has no input {unknown[0]!r} (inputs: {sorted(expected)})", field="inputs"
        )
    missing = sorted(set(expected) - set(inputs))
    if missing:
        raise InvalidInput(f"inputs: model {model} needs input {missing[0]!r}", field="inputs")
    for name, spec in expected.items():
        array, field = inputs[name], f"inputs.{name}"
        got = datatype_of(array.dtype)
        if got != spec.datatype:
            raise InvalidInput(
                f"{field}: datatype {got}, but model {model} takes {spec.datatype}", field=field
            )
        shape = list(array.shape)
        if len(shape) != len(spec.shape) or any(
            d not in (-1, s) for d, s in zip(spec.shape, shape, strict=True)
        ):
            raise InvalidInput(
                f"{field}: shape {shape} does not match model {model}'s {spec.shape} (-1: any size)",
                field=field,
            )


@dataclass(frozen=True)
class InferResult:
    """A v2 inference answer: the model version that ran and its outputs (only those requested)."""

    model: str
    version: str
    outputs: Arrays


async def infer(
    state: ServiceState,
    name: str,
    version: str | None,
    inputs: Arrays,
    parameters: Mapping[str, Any],
    requested: list[str] | None,
    timeout_s: float,
) -> InferResult:
    """Run v2 model ``name`` (``version`` None: the default) on ``inputs``; keep the ``requested`` outputs.

    Raises:
        NotFound: unknown model or version. InvalidInput: bad tensors, outputs or parameters.
        Unavailable / Overloaded / Timeout: as the model's batcher reports.
    """
    model = state.v2_models.check_version(name, version or None)
    known = [t.name for t in model.outputs(version or None)]
    for out in requested or ():
        if out not in known:
            raise InvalidInput(
                f"outputs: model {name} has no output {out!r} (outputs: {known})", field="outputs"
            )
    if isinstance(model, LossV2Model):
        outputs = await _infer_loss(state, model, inputs, parameters, timeout_s)
        ran = LOSS_VERSION
    else:
        mv = state.model(name, version or None)
        check_inputs(name, mv.inputs, inputs)
        ran = mv.version
        if any(a.ndim == 0 or a.shape[0] == 0 for a in inputs.values()):
            raise InvalidInput(f"inputs: model {name} needs a batch dimension of at least 1", field="inputs")
        assert mv.batcher is not None  # state.model returns ready versions only
        outputs = (await mv.batcher.submit(inputs, timeout_s=timeout_s)).outputs
    keep = requested or known
    missing = [k for k in keep if k not in outputs]
    if missing:
        raise InternalError(f"model {name} did not produce output {missing[0]!r}")
    return InferResult(name, ran, {k: outputs[k] for k in keep})


async def _infer_loss(
    state: ServiceState, model: LossV2Model, inputs: Arrays, parameters: Mapping[str, Any], timeout_s: float
) -> Arrays:
    names = [t.name for t in model.inputs()]
    extra = sorted(set(inputs) - set(names))
    if extra:
        raise InvalidInput(
            f"inputs: model {model.name} has no input {extra[0]!r} (inputs: {names})", field="inputs"
        )
    for name in names:
        if name not in inputs:
            raise InvalidInput(f"inputs: model {model.name} needs input {name!r}", field="inputs")
        if inputs[name].dtype.kind not in "biuf":
            got = datatype_of(inputs[name].dtype)
            raise InvalidInput(f"inputs.{name}: must be numeric, got {got}", field=f"inputs.{name}")
        if inputs[name].size > state.settings.max_score_elements:
            raise InvalidInput(
                f"inputs.{name}: {inputs[name].size} elements, more than {state.settings.max_score_elements}",
                field=f"inputs.{name}",
            )
    options = loss_options(model.name, parameters)
    targets = inputs.get("targets")
    try:
        result = await asyncio.wait_for(
            state.in_cpu_pool(score, inputs[model.first_input], targets, options), timeout_s
        )
    except TimeoutError:
        raise Timeout(f"model {model.name} did not finish within the timeout of {timeout_s:g} s") from None
    except InvalidInput as exc:  # the scoring API's field names -> this model's input / parameter names
        raise InvalidInput(exc.detail, field=_v2_field(exc.field, model)) from None
    value = result.losses[0]
    if value.value is None:
        assert value.per_sample is not None  # reduction "none"
        return {"loss": np.asarray(value.per_sample, dtype=np.float64)}
    return {"loss": np.array([value.value], dtype=np.float64)}


def _v2_field(field: str | None, model: LossV2Model) -> str | None:
    if field == "predictions":
        return f"inputs.{model.first_input}"
    if field == "labels":
        return "inputs.targets"
    if field is not None and field.startswith("losses[0]."):
        return "parameters." + field.removeprefix("losses[0].")
    return field


def library_defaults(model: str) -> dict[str, Any]:
    """``kind`` and ``from_logits`` defaults of the library function the v2 model is named after."""
    signature = inspect.signature(getattr(losses, model))
    return {k: signature.parameters[k].default for k in ("kind", "from_logits") if k in signature.parameters}


def loss_options(model: str, parameters: Mapping[str, Any]) -> ScoreOptions:
    """Scoring options for loss model ``model`` from v2 request parameters.

    Unset ``kind`` / ``from_logits`` take the defaults of the library function of the same name (``entropy``:
    multiclass probabilities; ``cross_entropy``: multiclass logits; ``focal_loss``: binary logits, ...);
    ``alpha: "none"`` means no alpha weighting. Numbers may come as strings (tritonclient's gRPC parameters
    carry only bool, int and str).

    Raises:
        InvalidInput: an unknown parameter or a value of the wrong type, naming ``parameters.<name>``.
    """
    params = {k: v for k, v in parameters.items() if k not in RESERVED_PARAMETERS}
    top: dict[str, Any] = library_defaults(model)
    top.update({k: params.pop(k) for k in ("kind", "from_logits") if k in params})
    if isinstance(params.get("alpha"), str) and params["alpha"].lower() == "none":
        params["alpha"] = None
    try:
        return ScoreOptions(**top, losses=[LossSpec(name=LOSS_MODELS[model][0], **params)])
    except ValidationError as exc:
        error = exc.errors()[0]
        where = [str(p) for p in error["loc"] if p not in ("losses", 0)]
        field = "parameters." + (where[0] if where else "?")
        raise InvalidInput(f"{field}: {error['msg']}", field=field) from None
