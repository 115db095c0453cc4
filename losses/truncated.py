"""Truncated cross-entropy: hard (a step weight) and soft (a sigmoid weight in logit space).

With ``theta`` the unit step (``theta(0) = 1/2``), per sample:

    lambda_hard = 1 - sum_k theta(q_k - m) theta(p_k - m)           L = lambda_hard * CE  (lambda is constant)
    lambda_soft = 1 - sum_k theta(q_k - m) sigmoid(K (z_k - logit m))  L = lambda_soft * CE

For hard targets these are ``theta(m - p_t)`` and ``sigmoid(K (logit m - logit p_t))`` (the spec's forms, and
for binary the spec's two-label formula); written per outcome they also cover soft targets and label
smoothing, and the soft weight still tends to the hard one as ``K -> inf``. ``K = 1, m = 1/2`` is the focal
loss with gamma 1 and no alpha (hard targets).
"""

from __future__ import annotations

import math
from typing import Any

from ._dist import build
from ._reduce import reduce
from ._validate import check_number, check_reduction
from .types import Array, Reduction


def hard_truncated_cross_entropy(
    input: Any,
    target: Any,
    *,
    kind: str = "binary",
    from_logits: bool = True,
    m: float = 0.6,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    normalizer: float | None = None,
) -> Array:
    """Cross-entropy that ignores elements already right with confidence above ``m`` in (0.5, 1).

    Exactly at ``p_t == m`` the weight is 1/2. Options and shapes as ``cross_entropy``.
    """
    margin = check_number("m", m, 0.5, 1.0, lo_open=True, hi_open=True)
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
    lam = 1.0 - d.be.sum_last(d.target_above(margin) * d.above(margin))
    return reduce(d, lam * d.ce(), reduction, norm)


def soft_truncated_cross_entropy(
    input: Any,
    target: Any,
    *,
    kind: str = "binary",
    from_logits: bool = True,
    m: float = 0.5,
    k: float = 1.0,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    normalizer: float | None = None,
) -> Array:
    """Cross-entropy weighted by ``sigmoid(k (logit m - logit p_t))``; ``k > 0``, ``m`` in [0.5, 1).

    ``m = 0.5`` (the default, the published form ``sigmoid(-k x_t)``) is allowed here, unlike the hard
    truncation whose step would then weight nothing consistently. Options and shapes as ``cross_entropy``.
    """
    margin = check_number("m", m, 0.5, 1.0, hi_open=True)
    steep = check_number("k", k, 0.0, float("inf"), lo_open=True, hi_open=True)
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
    be = d.be
    logit_m = math.log(margin / (1.0 - margin))
    on = d.target_above(margin)
    # 1 - sum_k on_k sigmoid(a_k) written as (1 - sum_k on_k) + sum_k on_k sigmoid(-a_k): no cancellation
    lam = (1.0 - be.sum_last(on)) + be.sum_last(on * be.sigmoid(steep * (logit_m - d.z())))
    return reduce(d, lam * d.ce(), reduction, norm)
