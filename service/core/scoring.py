"""Scoring predictions with the loss family: a pure function ``arrays + options -> ScoreResult``.

The values are exactly the `losses` package's (the same numpy code runs). REST (``/v1/score``), gRPC Score and
the loss models of the Open Inference Protocol all call `score`.

Shapes: binary ``predictions`` are logits / probabilities of any shape and ``labels`` the same shape (0/1 or
soft); multiclass ``predictions`` are ``[..., C]`` and ``labels`` class indices ``[...]`` or distributions
``[..., C]``. ``per_sample`` is the ``reduction="none"`` result; ``gradient`` has ``predictions``' shape.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

import losses
from losses import LossInputError

from ..errors import AnswerTooLarge, InvalidInput, map_errors
from .arrays import check_elements

__all__ = [
    "LossSpec",
    "LossValue",
    "ScoreOptions",
    "ScoreResult",
    "as_array",
    "check_answer_size",
    "chunk_state",
    "score",
    "score_spec",
]

#: the request's argument name for each argument name the loss library reports
_ARGUMENT = {
    "input": "predictions",
    "p": "predictions",
    "target": "labels",
    "kind": "kind",
    "from_logits": "from_logits",
}
#: losses without a target; the library default reduction is "none", the API uses "mean" (a score is a number)
_NO_TARGET = {"entropy"}


class LossSpec(BaseModel):
    """One loss to compute and its parameters (unset ones keep the library's defaults)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="One of: " + ", ".join(losses.LOSS_NAMES), examples=["focal"])
    reduction: Literal["none", "mean", "sum", "batchmean"] | None = None
    alpha: float | list[float] | None = None
    gamma: float | None = None
    beta: float | None = None
    m: float | None = None
    k: float | None = None
    base: float | None = None
    weight: list[float] | None = None
    ignore_index: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    label_smoothing: float | None = None
    normalizer: float | None = None
    background_class: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)

    def params(self) -> dict[str, Any]:
        """Parameters the client set (``alpha: null`` stays: it means no alpha weighting)."""
        out = self.model_dump(exclude_unset=True, exclude={"name"})
        return {k: v for k, v in out.items() if v is not None or k == "alpha"}


class ScoreOptions(BaseModel):
    """Everything in a score request except the arrays."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["binary", "multiclass"] = "binary"
    from_logits: bool = True
    losses: list[LossSpec] = Field(default_factory=lambda: [LossSpec(name="focal")], min_length=1)
    per_sample: bool = False
    gradient: bool = False
    anatomy: bool = False
    per_class: bool = Field(default=False, description="Per class sums and means of every loss.")
    calibration_bins: int | None = Field(
        default=None, ge=1, le=1000, description="Reliability bins of the probabilities (ECE, MCE, bins)."
    )

    def answer_elements(self, elements: int) -> int:
        """At most how many array elements the answer to ``elements`` predictions holds (per-sample values
        of every loss asked or left unreduced, gradients), known before anything is computed."""
        unreduced = sum(1 for spec in self.losses if self.per_sample or spec.reduction == "none")
        return elements * (unreduced + (len(self.losses) if self.gradient else 0))


@dataclass(frozen=True)
class LossValue:
    """One loss's result: the reduced ``value`` (None when the reduction is ``none``), optional arrays."""

    name: str
    reduction: str | None
    value: float | None
    per_sample: np.ndarray | None = None
    gradient: np.ndarray | None = None

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.reduction is not None:
            out["reduction"] = self.reduction
        if arrays and self.per_sample is not None:
            out["per_sample"] = self.per_sample.tolist()
        if arrays and self.gradient is not None:
            out["gradient"] = self.gradient.tolist()
        return out


@dataclass(frozen=True)
class ScoreResult:
    """The losses in request order, the first loss's anatomy (if asked), the clamped-probability count."""

    losses: list[LossValue]
    anatomy: dict[str, Any] | None
    clamped_count: int
    elements: int
    breakdown: dict[str, Any] | None = None  # per_class and calibration, from the mergeable state

    def npz_arrays(self) -> dict[str, np.ndarray]:
        """The result as the arrays of an ``.npz`` answer: ``summary`` (the JSON answer without arrays, as a
        string) and ``losses.<i>.per_sample`` / ``losses.<i>.gradient`` in their own dtype and shape."""
        arrays: dict[str, np.ndarray] = {"summary": np.array(json.dumps(self.to_dict(arrays=False)))}
        for i, v in enumerate(self.losses):
            if v.per_sample is not None:
                arrays[f"losses.{i}.per_sample"] = v.per_sample
            if v.gradient is not None:
                arrays[f"losses.{i}.gradient"] = v.gradient
        return arrays

    def to_dict(self, *, arrays: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "losses": [v.to_dict(arrays=arrays) for v in self.losses],
            "clamped_count": self.clamped_count,
            "elements": self.elements,
        }
        if self.anatomy is not None:
            out["anatomy"] = self.anatomy
        out.update(self.breakdown or {})
        return out


def as_array(value: Any, field: str, *, max_elements: int) -> np.ndarray:
    """A JSON value (nested lists of numbers) or array -> numeric ndarray; errors name ``field``."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"must be a rectangular numeric array: {exc}", field=field) from None
    if array.dtype.kind not in "biuf":
        raise InvalidInput(f"must be a rectangular numeric array, got dtype {array.dtype}", field=field)
    check_elements(array.size, field, max_elements)
    return array


def check_answer_size(options: ScoreOptions, elements: int, limit: int, *, setting: str, advice: str) -> None:
    """Refuse, before computing, an answer that would hold more than ``limit`` array elements
    (`AnswerTooLarge` naming the ``setting`` behind the limit, with ``advice`` on what to do instead)."""
    count = options.answer_elements(elements)
    if count > limit:
        raise AnswerTooLarge(
            f"the answer would hold {count} array elements, more than the limit of {limit} ({setting}); "
            + advice,
            field="per_sample" if options.per_sample else "gradient",
        )


def score(predictions: np.ndarray, labels: np.ndarray | None, options: ScoreOptions) -> ScoreResult:
    """Compute every requested loss (and per-sample values, gradients, anatomy) with the `losses` package.

    Raises:
        InvalidInput: any bad input, naming the request field (``predictions``, ``labels``,
            ``losses[i].<param>``) the loss library complained about; empty arrays, on every path (a loss
            over no element has no value).
    """
    for field, array in (("predictions", predictions), ("labels", labels)):
        if array is not None and array.size == 0:
            raise InvalidInput(f"is empty (shape {list(array.shape)})", field=field)
    common: dict[str, Any] = {"kind": options.kind, "from_logits": options.from_logits}
    results: list[LossValue] = []
    for i, spec in enumerate(options.losses):
        with _naming(i):
            fn = losses.get_loss(spec.name)
            params = spec.params()
            reduction = params.pop("reduction", "mean" if spec.name in _NO_TARGET else None)
            if reduction is not None:
                params["reduction"] = reduction
            args: tuple[Any, ...] = (predictions,) if spec.name in _NO_TARGET else (predictions, labels)
            if len(args) == 2 and labels is None:
                raise LossInputError("target", f"loss {spec.name} needs labels")
            raw = fn(*args, **common, **params)
            value = None if reduction == "none" else float(raw)
            per_sample = None
            if options.per_sample or reduction == "none":
                unreduced = (
                    raw if reduction == "none" else fn(*args, **common, **{**params, "reduction": "none"})
                )
                per_sample = np.asarray(unreduced)
            gradient = None
            if options.gradient:
                grad = losses.loss_gradient(spec.name, predictions, labels, **common, **params)
                gradient = np.asarray(grad)
            results.append(LossValue(spec.name, reduction, value, per_sample, gradient))
    anatomy = None
    if options.anatomy:
        first = options.losses[0]
        with _naming(0):
            report = losses.loss_anatomy(predictions, labels, loss=first.name, **common, **first.params())
        anatomy = report.to_dict() if hasattr(report, "to_dict") else dataclasses.asdict(report)
    clamped = 0  # logits are never clamped, and every loss above has already checked them
    if not options.from_logits:
        with _naming(None):
            clamped = losses.clamped_count(predictions, from_logits=False)
    breakdown: dict[str, Any] | None = None
    if options.per_class or options.calibration_bins:
        one = options.model_copy(update={"anatomy": False})
        result = chunk_state(predictions, labels, one, reduced_only=False).result()
        breakdown = {k: result[k] for k in ("per_class", "calibration") if k in result}
    return ScoreResult(results, anatomy, clamped, int(predictions.size), breakdown)


def score_spec(options: ScoreOptions, *, reduced_only: bool = True) -> losses.ScoreSpec:
    """The `losses.ScoreSpec` of ``options``: what a mergeable state of this score accumulates.

    ``reduced_only``: a loss whose reduction is ``none`` is an error naming it (a session has no per-sample
    answer); otherwise it is accumulated as its mean (the one-shot per-class breakdown)."""
    specs = []
    for i, spec in enumerate(options.losses):
        params = spec.params()
        if spec.name in _NO_TARGET:
            params.setdefault("reduction", "mean")
        if params.get("reduction") == "none":
            if reduced_only:
                raise InvalidInput(
                    "'none' has no merged value: use mean, sum or batchmean", field=f"losses[{i}].reduction"
                )
            params["reduction"] = "mean"
        with _naming(i):
            losses.get_loss(spec.name)
            specs.append((spec.name, params))
    with _naming(None):
        return losses.ScoreSpec.build(
            specs,
            kind=options.kind,
            from_logits=options.from_logits,
            anatomy=options.anatomy,
            per_class=options.per_class,
            calibration_bins=options.calibration_bins,
        )


def chunk_state(
    predictions: np.ndarray,
    labels: np.ndarray | None,
    options: ScoreOptions,
    *,
    reduced_only: bool = True,
    per_sample: list[np.ndarray] | None = None,
) -> losses.ScoreState:
    """The mergeable state of one chunk (errors as `score`'s, naming the request field); ``per_sample``
    receives each loss's per-sample values."""
    for field, array in (("predictions", predictions), ("labels", labels)):
        if array is not None and array.size == 0:
            raise InvalidInput(f"is empty (shape {list(array.shape)})", field=field)
    state = losses.ScoreState(score_spec(options, reduced_only=reduced_only))
    with _naming(None):
        return state.update(predictions, labels, per_sample=per_sample)


@contextmanager
def _naming(index: int | None) -> Iterator[None]:
    """Errors of the loss library as `InvalidInput` naming the request field (``predictions``, ``labels``,
    ``losses[i].<param>``)."""

    def rename(argument: str) -> str:
        if argument in _ARGUMENT:
            return _ARGUMENT[argument]
        return argument if index is None else f"losses[{index}].{argument}"

    try:
        with map_errors(rename, status=None):
            yield
    except (ValueError, TypeError) as exc:  # e.g. shapes that do not broadcast
        raise InvalidInput(f"the loss library rejected the input: {exc}", field="predictions") from None
