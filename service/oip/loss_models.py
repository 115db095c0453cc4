"""The loss models: one v2 model per loss of the `losses` package (``focal_loss``, ``cross_entropy``, ...).

Inputs ``logits`` (``probabilities`` for ``entropy``) and ``targets``; loss options (``alpha``, ``gamma``,
``reduction``, ``kind``, ``from_logits``, ...) as request ``parameters``; output ``loss`` (FP64: shape ``[1]``
when reduced, the per-element / per-sample values with ``reduction: "none"``), computed by the service's
scoring function (`service.core.scoring.score`) in the CPU pool. `infer_loss` also says how long each stage
took (`LossRun`), for the model's statistics.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

import losses

from ..core.arrays import check_elements
from ..core.datatypes import datatype_of
from ..core.model_version import TensorSpec
from ..core.scoring import ScoreOptions, score
from ..core.state import ServiceState
from ..core.statistics import ModelStatistics, StageTimes, timed_call
from ..errors import InvalidInput, Timeout, map_errors

__all__ = [
    "LOSS_MODELS",
    "LOSS_VERSION",
    "LossRun",
    "LossV2Model",
    "infer_loss",
    "library_defaults",
    "loss_options",
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

#: Request parameters that belong to the protocol or to clients, not to a loss (and any ``triton_*`` one, a
#: prefix Triton keeps for itself: perf_analyzer sends ``triton_enable_empty_final_response``).
RESERVED_PARAMETERS = frozenset(
    {"binary_data_output", "priority", "timeout", "sequence_id", "sequence_start", "sequence_end", "headers"}
)


#: Datatypes a loss model's first input takes (any numeric one works; these are the ones that mean something).
FLOAT_DATATYPES = ("FP16", "FP32", "FP64")
#: Datatypes its targets take: 0/1 or soft labels, class indices.
TARGET_DATATYPES = (
    "BOOL",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    *FLOAT_DATATYPES,
)


def _rule(shape: str, datatypes: tuple[str, ...] = TARGET_DATATYPES) -> dict[str, str]:
    """Tensor-metadata parameters: the datatypes accepted (comma-separated) and the shape rule in words."""
    return {"datatypes": ",".join(datatypes), "shape": shape}


class LossV2Model:
    """One loss as a v2 model (the `service.oip.registry.V2Model` protocol): always ready, version ``1``.

    Its `ModelStatistics` count each infer call as one request and one execution of one row.
    """

    platform = "focalserve_losses"

    def __init__(self, name: str) -> None:
        self._name = name
        self.loss, self.takes_targets, self.first_input = LOSS_MODELS[name]
        self._statistics = ModelStatistics()
        self.pending = 0  # infer calls under way
        self._inputs = self._describe_inputs()  # read on every infer call: built once

    @property
    def name(self) -> str:
        return self._name

    def versions(self) -> list[str]:
        return [LOSS_VERSION]

    def is_ready(self, version: str | None = None) -> bool:
        return True

    def inputs(self, version: str | None = None) -> list[TensorSpec]:
        return list(self._inputs)

    def _describe_inputs(self) -> list[TensorSpec]:
        """What the model really takes, for its default ``kind`` (a ``kind`` request parameter switches it).

        ``datatype`` / ``shape`` are the form to prefer (FP64, the precision the loss is computed in; class
        indices as INT64); ``parameters`` list every datatype accepted and the rank rule, which the shape
        alone cannot say (a binary loss takes any rank).
        """
        defaults = library_defaults(self.name)
        if defaults.get("kind", "multiclass") == "binary":
            first = TensorSpec(self.first_input, "FP64", [-1], _rule("any shape", FLOAT_DATATYPES))
            targets = TensorSpec(
                "targets", "FP64", [-1], _rule(f"the shape of {self.first_input}, 0/1 or soft")
            )
        else:
            rows = "" if defaults.get("from_logits", True) else ", rows summing to 1"
            first = TensorSpec(self.first_input, "FP64", [-1, -1], _rule(f"[..., C]{rows}", FLOAT_DATATYPES))
            targets = TensorSpec(
                "targets",
                "INT64",
                [-1],
                _rule(f"class indices [...], or distributions of the shape of {self.first_input}"),
            )
        return [first, targets] if self.takes_targets else [first]

    def outputs(self, version: str | None = None) -> list[TensorSpec]:
        return [TensorSpec("loss", "FP64", [-1])]

    def statistics(self, version: str) -> ModelStatistics:
        return self._statistics


@dataclass(frozen=True)
class LossRun:
    """A loss model's answer and its times: ``times`` are the checks of the inputs and options, the scoring
    call (in its thread) and the output built; ``queue_s`` the wait for a thread of the CPU pool."""

    outputs: Arrays
    queue_s: float
    times: StageTimes


async def infer_loss(
    state: ServiceState, model: LossV2Model, inputs: Arrays, parameters: Mapping[str, Any], timeout_s: float
) -> LossRun:
    """Run loss model ``model`` on ``inputs`` (checked: names, numeric, element limit) in the CPU pool."""
    started = time.monotonic()
    names = [t.name for t in model.inputs()]
    extra = sorted(set(inputs) - set(names))
    if extra:
        raise InvalidInput(f"model {model.name} has no input {extra[0]!r} (inputs: {names})", field="inputs")
    for name in names:
        field = f"inputs.{name}"
        if name not in inputs:
            raise InvalidInput(f"model {model.name} needs input {name!r}", field="inputs")
        if inputs[name].dtype.kind not in "biuf":
            raise InvalidInput(f"must be numeric, got {datatype_of(inputs[name].dtype)}", field=field)
        check_elements(inputs[name].size, field, state.settings.max_score_elements)
    options = loss_options(model.name, parameters)
    targets = inputs.get("targets")
    stamps: list[float] = []  # the scoring call's start and end, read in its thread
    submitted = time.monotonic()
    try:
        result = await asyncio.wait_for(
            state.in_cpu_pool(timed_call, stamps, score, inputs[model.first_input], targets, options),
            timeout_s,
        )
    except TimeoutError:
        raise Timeout(f"model {model.name} did not finish within the timeout of {timeout_s:g} s") from None
    except InvalidInput as exc:  # the scoring API's field names -> this model's input / parameter names
        raise InvalidInput(exc.detail, field=_v2_field(exc.field, model), status=exc.status) from None
    value = result.losses[0]
    if value.value is None:
        assert value.per_sample is not None  # reduction "none"
        loss = np.asarray(value.per_sample, dtype=np.float64)
    else:
        loss = np.array([value.value], dtype=np.float64)
    ended = time.monotonic()
    ran_from, ran_to = stamps if len(stamps) == 2 else (submitted, ended)
    times = StageTimes(submitted - started, ran_to - ran_from, ended - ran_to)
    return LossRun({"loss": loss}, ran_from - submitted, times)


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


def _parameter(field: str) -> str:
    """A scoring-options field (``losses[0].gamma``, ``kind``) as the v2 request names it."""
    return "parameters." + field.removeprefix("losses[0].")


def loss_options(model: str, parameters: Mapping[str, Any]) -> ScoreOptions:
    """Scoring options for loss model ``model`` from v2 request parameters.

    Unset ``kind`` / ``from_logits`` take the defaults of the library function of the same name (``entropy``:
    multiclass probabilities; ``cross_entropy``: multiclass logits; ``focal_loss``: binary logits, ...);
    ``alpha: "none"`` means no alpha weighting. Numbers may come as strings (tritonclient's gRPC parameters
    carry only bool, int and str).

    Raises:
        InvalidInput: an unknown parameter or a value of the wrong type, naming ``parameters.<name>``.
    """
    params = {
        k: v for k, v in parameters.items() if k not in RESERVED_PARAMETERS and not k.startswith("triton_")
    }
    top: dict[str, Any] = library_defaults(model)
    top.update({k: params.pop(k) for k in ("kind", "from_logits") if k in params})
    if isinstance(params.get("alpha"), str) and params["alpha"].lower() == "none":
        params["alpha"] = None
    with map_errors(_parameter):
        return ScoreOptions.model_validate({**top, "losses": [{"name": LOSS_MODELS[model][0], **params}]})
