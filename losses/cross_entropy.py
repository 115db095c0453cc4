"""Cross-entropy ``H(p, q) = -sum_i p_i log q_i`` (p: the target, q: the prediction)."""

from __future__ import annotations

from typing import Any

from . import _kernels
from ._dist import build
from ._reduce import reduce
from ._validate import check_reduction
from .types import Array, Reduction


def cross_entropy(
    input: Any,
    target: Any,
    *,
    kind: str = "multiclass",
    from_logits: bool = True,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    normalizer: float | None = None,
) -> Array:
    """Cross-entropy between targets and predictions.

    Args:
        input: logits (``from_logits=True``) or probabilities. Binary/multilabel: any shape ``[...]``;
            multiclass: ``[..., C]``.
        target: binary: same shape, in [0, 1] (hard or soft); multiclass: class indices ``[...]`` (int) or
            distributions ``[..., C]``.
        weight: binary: elementwise, broadcastable to ``[...]``; multiclass: per class ``[C]``.
        ignore_index: targets equal to it count in neither the numerator nor the denominator.
        label_smoothing: ``y (1 - e) + e / 2`` (binary), ``(1 - e) onehot + e / C`` (multiclass).
        reduction: ``none`` gives ``[...]`` (per element / per sample), else a scalar; see ``_reduce``.
        normalizer: with ``reduction="sum"``, divide by ``max(1, normalizer)``.

    Equals ``torch.nn.functional.binary_cross_entropy(_with_logits)`` / ``cross_entropy`` (incl. weight,
    ignore_index, label_smoothing and soft targets, whose ``mean`` divides by the number of samples as torch
    does). Probabilities of exactly 0 or 1 are legal: their log is clamped at -100 (torch's BCELoss).
    """
    norm = check_reduction(reduction, normalizer)
    fast = _kernels.cross_entropy_fast(
        input, target, kind, from_logits, weight, ignore_index, label_smoothing, reduction, norm
    )
    if fast is not None:
        return fast
    d = build(
        input,
        target,
        kind=kind,
        from_logits=from_logits,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    return reduce(d, d.ce(), reduction, norm)
