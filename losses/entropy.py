"""Entropy ``H(p) = -sum_i p_i log p_i`` and KL divergence ``D(p || q) = H(p, q) - H(p)``."""

from __future__ import annotations

import math
from typing import Any

from ._backend import backend_for
from ._dist import Dist, build
from ._reduce import reduce
from ._validate import check_input, check_kind, check_reduction
from .errors import LossInputError
from .types import Array, Reduction


def _xlogy_self(be: Any, q: Array) -> Array:
    """q log q with 0 log 0 = 0."""
    return be.where(q > 0, q * be.log(be.where(q > 0, q, 1.0)), 0.0)


def _log_base(base: object) -> float:
    if base is None:
        return 1.0
    if isinstance(base, int | float) and not isinstance(base, bool) and base in (2, math.e):
        return math.log(float(base))
    raise LossInputError("base", f"must be None (nats, base e), math.e or 2 (bits), got {base!r}")


def entropy(
    p: Any,
    *,
    kind: str = "multiclass",
    from_logits: bool = False,
    base: float | None = None,
    reduction: Reduction = "none",
) -> Array:
    """Entropy of each distribution, ``0 log 0 = 0``.

    Args:
        p: probabilities (or logits with ``from_logits=True``). Multiclass: ``[..., C]`` rows summing to 1
            -> ``[...]``; binary: Bernoulli parameters ``[...]`` -> ``[...]``.
        base: None (nats) or 2 (bits).
        reduction: ``none``, ``sum`` or ``mean`` (over the distributions).
    """
    kind = check_kind(kind)
    scale = _log_base(base)
    check_reduction(reduction, None)
    x = check_input(p, from_logits=from_logits, kind=kind)
    be = backend_for(x)
    binary = kind == "binary"
    if from_logits:
        logp = be.stack_last([be.log_sigmoid(x), be.log_sigmoid(-x)]) if binary else be.log_softmax(x)
        h = 0.0 - be.sum_last(be.exp(logp) * logp)
    else:
        probs = be.stack_last([x, 1.0 - x]) if binary else x  # [...] -> [..., 2] for binary
        h = 0.0 - be.sum_last(_xlogy_self(be, probs))
    if scale != 1.0:
        h = h / scale
    d = Dist(be, x, binary, from_logits, logp=h[..., None], q=h[..., None], index_targets=False)
    return reduce(d, h, reduction, None)


def kl_divergence(
    input: Any,
    target: Any,
    *,
    kind: str = "multiclass",
    from_logits: bool = True,
    weight: Any = None,
    reduction: Reduction = "batchmean",
    normalizer: float | None = None,
) -> Array:
    """KL divergence ``D(p || q) = sum_i p_i (log p_i - log q_i)`` of the target p from the prediction q.

    ``input`` is the prediction q (logits or probabilities), ``target`` the distribution p (or class
    indices, i.e. one-hot). This is torch's ``kl_div(log q, p)``; its default ``batchmean`` (sum divided by
    ``input.shape[0]``) is the KL divergence per sample, element ``mean`` is not. ``weight`` scales each
    class's term (multiclass) or each element (binary).
    """
    norm = check_reduction(reduction, normalizer, batchmean=True)
    d = build(input, target, kind=kind, from_logits=from_logits, weight=weight)
    return reduce(d, kl_per_sample(d), reduction, norm)


def kl_per_sample(d: Dist) -> Array:
    """sum_k w_k (q_k log q_k - q_k log p_k) per sample [...]."""
    be = d.be
    terms = _xlogy_self(be, d.q) - d.q * d.logp
    if d.class_w is not None:
        terms = terms * d.class_w
    return be.sum_last(terms)
