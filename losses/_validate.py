"""Argument checks shared by every loss. Each failure raises ``LossInputError`` naming the argument.

Checks run on a numpy view of the data (``detach().cpu()`` for tensors), so they are written once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import LossInputError
from .types import KINDS, REDUCTIONS, Array

ROW_SUM_TOLERANCE = 1e-3


def as_numpy(x: Any) -> np.ndarray[Any, Any]:
    """A numpy view of an array-like or tensor (no copy for numpy and CPU tensors)."""
    if type(x).__module__.startswith("torch"):
        return np.asarray(x.detach().cpu().numpy())
    return np.asarray(x)


def check_kind(kind: object) -> str:
    if kind not in KINDS:
        raise LossInputError("kind", f"must be one of {KINDS}, got {kind!r}")
    return str(kind)


def check_reduction(reduction: object, normalizer: object, *, batchmean: bool = False) -> float | None:
    """Validate ``reduction`` (+ ``normalizer``); returns the normalizer as a float or None."""
    allowed = REDUCTIONS if batchmean else tuple(r for r in REDUCTIONS if r != "batchmean")
    if reduction not in allowed:
        hint = "" if batchmean else " ('batchmean' is for kl_divergence only)"
        raise LossInputError("reduction", f"must be one of {allowed}, got {reduction!r}{hint}")
    if normalizer is None:
        return None
    if reduction != "sum":
        raise LossInputError("normalizer", f"is only valid with reduction='sum', not {reduction!r}")
    try:
        value = float(as_numpy(normalizer))
    except (TypeError, ValueError):
        raise LossInputError("normalizer", f"must be a number, got {normalizer!r}") from None
    if not math.isfinite(value) or value < 0:
        raise LossInputError("normalizer", f"must be a finite number >= 0, got {value}")
    return value


def check_number(
    name: str, value: object, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False
) -> float:
    """A real number in the interval [lo, hi] (ends open as asked); 0-d arrays and tensors are accepted."""
    if hasattr(value, "shape") and tuple(value.shape) == () and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise LossInputError(name, f"must be a real number, got {value!r}")
    v = float(value)
    low_bad = v <= lo if lo_open else v < lo
    high_bad = v >= hi if hi_open else v > hi
    if math.isnan(v) or low_bad or high_bad:
        interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise LossInputError(name, f"must be in {interval}, got {v}")
    return v


def check_input(x: Any, *, from_logits: bool, kind: str) -> Any:
    """Floating array of logits (finite) or probabilities (in [0, 1], rows summing to 1 for multiclass)."""
    if type(x).__module__.startswith("torch"):
        if not x.is_floating_point():
            import torch

            x = x.to(torch.get_default_dtype())
    else:
        try:
            x = np.asarray(x)
        except (TypeError, ValueError):
            raise LossInputError("input", "must be a numeric array") from None
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        elif x.dtype.kind != "f":
            raise LossInputError("input", f"must be a real floating array, got dtype {x.dtype}")
    view = as_numpy(x)
    if kind == "multiclass" and (view.ndim == 0 or view.shape[-1] < 2):
        raise LossInputError("input", f"multiclass input needs a class axis of size >= 2, got {view.shape}")
    if from_logits:
        if view.size and not (np.isfinite(view.min()) and np.isfinite(view.max())):  # min/max carry NaN
            raise LossInputError("input", "logits must be finite (found NaN or inf)")
    else:
        if view.size and not (view.min() >= 0 and view.max() <= 1):  # NaN fails both comparisons
            raise LossInputError("input", "probabilities must lie in [0, 1] (found a value outside or NaN)")
        if kind == "multiclass":
            check_rows("input", view)
    return x


def check_rows(name: str, view: np.ndarray[Any, Any]) -> None:
    """Rows over the last axis sum to 1 within 1e-3 (no silent renormalisation)."""
    sums = np.sum(view, axis=-1, dtype=np.float64)
    if view.size and not (np.abs(sums - 1.0) <= ROW_SUM_TOLERANCE).all():
        worst = float(np.max(np.abs(sums - 1.0)))
        raise LossInputError(name, f"rows must sum to 1 within {ROW_SUM_TOLERANCE} (off by {worst:.3g})")


def check_ignore_index(ignore_index: object) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer):
        raise LossInputError("ignore_index", f"must be an integer, got {ignore_index!r}")
    return int(ignore_index)


def check_weight(weight: object, shape: tuple[int, ...], *, kind: str) -> np.ndarray[Any, Any] | None:
    """Binary: broadcastable to the input's shape; multiclass: one weight per class. Finite and >= 0."""
    if weight is None:
        return None
    try:
        w = np.asarray(as_numpy(weight), dtype=np.float64)
    except (TypeError, ValueError):
        raise LossInputError("weight", "must be a numeric array") from None
    if kind == "multiclass":
        if w.shape != (shape[-1],):
            raise LossInputError(
                "weight", f"must have one entry per class, shape ({shape[-1]},), got {w.shape}"
            )
    else:
        try:
            ok = np.broadcast_shapes(w.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise LossInputError("weight", f"shape {w.shape} does not broadcast to the input's shape {shape}")
    if not (np.isfinite(w) & (w >= 0)).all():
        raise LossInputError("weight", "must be finite and >= 0")
    return w


def same_shape(name: str, shape: tuple[int, ...], expected: tuple[int, ...], what: str) -> None:
    if tuple(shape) != tuple(expected):
        raise LossInputError(name, f"shape {tuple(shape)} does not match {what} {tuple(expected)}")


def as_target_array(target: Any, like: Array) -> Any:
    """Convert a target to the input's array library (numpy or torch, on the input's device)."""
    if target is None:
        raise LossInputError("target", "is required (got None)")
    if type(like).__module__.startswith("torch"):
        import torch

        if isinstance(target, torch.Tensor):
            return target.to(like.device)
        return torch.as_tensor(as_numpy(target), device=like.device)
    try:
        return np.asarray(as_numpy(target))
    except (TypeError, ValueError):
        raise LossInputError("target", "must be a numeric array") from None
