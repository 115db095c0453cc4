"""Reductions of per-sample losses, with float64 accumulation.

``none`` keeps ``[...]`` (binary: per element, multiclass: per sample; ignored entries are 0, as torch does).
``sum`` accumulates in float64 and, with ``normalizer=N``, divides by ``max(1, N)``. ``mean`` divides by the
number of counted elements, or for multiclass class-index targets with ``weight`` by the sum of the counted
samples' class weights (torch's convention); with every sample ignored it is NaN (torch's convention).
``batchmean`` divides by ``input.shape[0]`` (torch's ``kl_div`` convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._dist import Dist
from .types import Array


def reduce(d: Dist, v: Array, reduction: str, normalizer: float | None) -> Array:
    """Apply elementwise weight, the ignore mask and ``reduction`` to per-sample losses ``v`` [...]."""
    be = d.be
    if d.elem_w is not None:
        v = v * d.elem_w
    if d.counted is not None:
        v = be.where(d.counted, v, 0.0)
    if reduction == "none":
        return v
    total = be.sum64(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return be.finish(total / divisor(d, reduction, normalizer), like=d.x)


def divisor(d: Dist, reduction: str, normalizer: float | None) -> Any:
    """What the float64 sum is divided by (a float, or a 0-d float64 array/tensor)."""
    be = d.be
    if reduction in ("none", "sum"):
        return 1.0 if normalizer is None else max(1.0, normalizer)
    if reduction == "batchmean":
        return float(d.x.shape[0]) if len(d.x.shape) > 0 else 1.0
    if d.denom is not None:
        return be.sum64(be.detach(d.denom))
    if d.counted is not None:
        return be.sum64(d.counted)
    return float(np.prod(d.batch_shape))


def mean_weights(kind: str, x: Any, target: Any, weight: Any, ignore_index: int) -> np.ndarray[Any, Any]:
    """Each sample's part of ``divisor(d, "mean", None)``, as float64 ``[...]`` (numpy inputs).

    The mean's divisor is the sum of these: 1 per counted element (binary) or sample (multiclass), 0 for
    an ignored one, ``weight[target]`` for multiclass class-index targets with ``weight``. So a mean over
    chunks is ``sum of the chunks' sums / sum of the chunks' weights``, which is what mergeable state keeps.
    """
    x = np.asarray(x)
    out: np.ndarray[Any, Any]
    if kind == "binary":
        if target is None:
            return np.ones(x.shape)
        out = np.asarray(target) != ignore_index
        return out.astype(np.float64)
    batch = x.shape[:-1]
    t: np.ndarray[Any, Any] | None = None if target is None else np.asarray(target)
    if t is None or t.shape != batch:  # no target (entropy) or target distributions: no ignore, no weight
        return np.ones(batch)
    counted: np.ndarray[Any, Any] = np.asarray(t != ignore_index)
    if weight is None:
        return counted.astype(np.float64)
    w = np.asarray(weight, dtype=np.float64)
    out = np.where(counted, w[np.where(counted, t, 0)], 0.0)
    return out
