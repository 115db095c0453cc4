"""Focal loss and FL* (Lin et al. 2017, "Focal Loss for Dense Object Detection", arXiv:1708.02002).

https://arxiv.org/abs/1708.02002 . Per sample, with ``p_t = sum_k q_k p_k`` (binary hard targets: ``p`` if
``y == 1`` else ``1 - p``) and ``CE`` the (weighted) cross-entropy of the sample:

    FL  = alpha_t * (1 - p_t)^gamma * CE          (1 - p_t)^gamma = exp(gamma * log(1 - p_t))
    FL* = alpha_t * sum_k w_k q_k * softplus(-(gamma * z_k + beta)) / gamma,    z_k = logit(p_k)

For binary soft targets this is the torchvision formula (``p_t = p y + (1 - p)(1 - y)``, BCE, ``alpha_t =
alpha y + (1 - alpha)(1 - y)``). The focal factor is computed in log space with a stable ``log(1 - p_t)``,
so gradients are finite for every gamma in [0, 5] and |x| <= 100 (``pow`` gives NaN at gamma < 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _kernels
from ._dist import Dist, build
from ._reduce import reduce
from ._validate import as_numpy, check_number, check_reduction
from .errors import LossInputError
from .types import Array, Reduction

_DEFAULT = object()


def alpha_per_outcome(d: Dist, alpha: Any, background_class: Any) -> Array | None:
    """alpha as a per-outcome vector [K], or None (no weighting).

    Binary: ``[alpha, 1 - alpha]``; multiclass: a length-C vector, or a scalar with ``background_class``
    (that class gets ``1 - alpha``, the others ``alpha``).
    """
    be = d.be
    if alpha is None:
        return None
    if d.binary:
        a = check_number("alpha", alpha, 0.0, 1.0)
        return be.asarray([a, 1.0 - a], like=d.x)
    num_classes = d.num_outcomes
    values = np.asarray(as_numpy(alpha), dtype=np.float64)
    if values.ndim == 0:
        if background_class is None:
            raise LossInputError(
                "alpha",
                "a scalar alpha is ambiguous for multiclass: pass a length-C vector, or background_class",
            )
        if isinstance(background_class, bool) or not isinstance(background_class, int):
            raise LossInputError("background_class", f"must be an int, got {background_class!r}")
        if not 0 <= background_class < num_classes:
            raise LossInputError(
                "background_class", f"must lie in [0, {num_classes}), got {background_class}"
            )
        a = check_number("alpha", float(values), 0.0, 1.0)
        values = np.full(num_classes, a)
        values[background_class] = 1.0 - a
    elif values.shape != (num_classes,):
        raise LossInputError("alpha", f"must be a scalar or have shape ({num_classes},), got {values.shape}")
    if not ((values >= 0) & (values <= 1)).all():
        raise LossInputError("alpha", "entries must lie in [0, 1]")
    return be.asarray(values, like=d.x)


def focal_loss(
    input: Any,
    target: Any,
    *,
    kind: str = "binary",
    from_logits: bool = True,
    alpha: Any = _DEFAULT,
    gamma: float = 2.0,
    background_class: int | None = None,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    normalizer: float | None = None,
) -> Array:
    """Focal loss ``-alpha_t (1 - p_t)^gamma log p_t`` (see the module docstring for every case).

    ``alpha`` defaults to 0.25 for binary and None (no weighting) for multiclass; 0 is a valid weight.
    ``gamma >= 0``; ``gamma = 0`` with ``alpha=None`` is exactly ``cross_entropy``. Shapes, targets and the
    shared options are those of ``cross_entropy``; for detection use ``reduction="sum", normalizer=N``.
    """
    if alpha is _DEFAULT:
        alpha = 0.25 if kind == "binary" else None
    g = check_number("gamma", gamma, 0.0, float("inf"), hi_open=True)
    norm = check_reduction(reduction, normalizer)
    fast = _kernels.focal_fast(
        input, target, kind, from_logits, alpha, g, weight, ignore_index, label_smoothing, reduction, norm
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
    alpha_k = alpha_per_outcome(d, alpha, background_class)
    v = d.be.exp(g * d.log1m_pt()) * d.ce()
    if alpha_k is not None:
        v = d.alpha_t(alpha_k) * v
    return reduce(d, v, reduction, norm)


def focal_loss_star(
    input: Any,
    target: Any,
    *,
    kind: str = "binary",
    from_logits: bool = True,
    gamma: float = 2.0,
    beta: float = 1.0,
    alpha: Any = None,
    background_class: int | None = None,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    normalizer: float | None = None,
) -> Array:
    """FL* (the paper's appendix): ``-log sigmoid(gamma * x_t + beta) / gamma``, optionally alpha-balanced.

    ``gamma`` must be > 0 (the loss divides by it). Multiclass uses each class's logit
    ``z_k = log p_k - log(1 - p_k)``; soft targets weight each outcome by ``q_k``.
    """
    g = check_number("gamma", gamma, 0.0, float("inf"), lo_open=True, hi_open=True)
    b = check_number("beta", beta, -float("inf"), float("inf"), lo_open=True, hi_open=True)
    norm = check_reduction(reduction, normalizer)
    d = build(
        input,
        target,
        kind=kind,
        from_logits=from_logits,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    alpha_k = alpha_per_outcome(d, alpha, background_class)
    be = d.be
    v = be.sum_last(d.weighted_q() * be.softplus(-(g * d.z() + b))) / g
    if alpha_k is not None:
        v = d.alpha_t(alpha_k) * v
    return reduce(d, v, reduction, norm)
