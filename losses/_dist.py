"""Predictions and targets as categorical distributions over K outcomes on a last axis.

Multiclass input ``[..., C]`` gives ``K = C``. A binary / multilabel element is a two-outcome categorical
(outcome 0: positive, outcome 1: negative), so ``[...] -> [..., 2]``. With this one representation each loss
below is a single formula over the last axis, identical for binary and multiclass, numpy and torch:

- ``logp [..., K]``: log probabilities (log-sigmoid / log-softmax; probabilities: log clamped at -100);
- ``q [..., K]``: the target distribution after label smoothing (``q (1 - e) + e / K``; for K = 2 that is
  ``y (1 - e) + e / 2``); rows of ignored samples are all zero;
- ``z [..., K]``: the logit of each outcome, ``log p - log(1 - p)`` (binary: ``[x, -x]`` exactly).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._backend import backend_for
from ._validate import (
    as_numpy,
    as_target_array,
    check_ignore_index,
    check_input,
    check_kind,
    check_number,
    check_rows,
    check_weight,
    same_shape,
)
from .errors import LossInputError
from .types import Array


class Dist:
    """Validated prediction + target on a class axis. Arrays are numpy or torch (``be`` says which).

    Binary inputs keep their two outcomes as separate arrays (``pair``: log p, log(1 - p), smoothed y) so
    the hot losses (cross-entropy, focal) run elementwise without stacking; ``logp``/``q`` stack on demand.
    """

    def __init__(
        self,
        be: Any,
        x: Array,
        binary: bool,
        from_logits: bool,
        *,
        logp: Array | None = None,
        q: Array | None = None,
        pair: tuple[Array, Array, Array] | None = None,
        counted: Array | None = None,
        class_w: Array | None = None,
        elem_w: Array | None = None,
        denom: Array | None = None,
        index_targets: bool = True,
        hard: bool = False,
    ) -> None:
        self.be, self.x, self.binary, self.from_logits = be, x, binary, from_logits
        self.pair = pair  # binary: (log p, log(1 - p), y) each [...]
        self.counted = counted  # bool [...]: False where the target is ignore_index; None: all counted
        self.class_w = class_w  # [K] per-class weights (multiclass)
        self.elem_w = elem_w  # broadcastable to [...] (binary elementwise weight)
        self.denom = denom  # [...] mean denominator weights (multiclass index targets with weight)
        self.index_targets = index_targets
        self.hard = hard  # binary targets all exactly 0 or 1: outcome sums become selections
        self._cache: dict[str, Array] = {}
        if logp is not None:
            self._cache["logp"] = logp
        if q is not None:
            self._cache["q"] = q

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape) if self.binary else tuple(self.x.shape[:-1])

    @property
    def logp(self) -> Array:
        """log p per outcome [..., K]."""
        if "logp" not in self._cache:
            assert self.pair is not None
            self._cache["logp"] = self.be.stack_last([self.pair[0], self.pair[1]])  # [...] -> [..., 2]
        return self._cache["logp"]

    @property
    def q(self) -> Array:
        """Target distribution per outcome [..., K]."""
        if "q" not in self._cache:
            assert self.pair is not None
            y = self.pair[2]
            self._cache["q"] = self.be.stack_last([y, 1.0 - y])  # [...] -> [..., 2]
        return self._cache["q"]

    @property
    def num_outcomes(self) -> int:
        return int(self.logp.shape[-1])

    def probs(self) -> Array:
        """p per outcome [..., K]: the given probabilities, or exp(logp) from logits."""
        if "p" not in self._cache:
            be = self.be
            if self.from_logits:
                self._cache["p"] = be.exp(self.logp)
            else:
                self._cache["p"] = be.stack_last([self.x, 1.0 - self.x]) if self.binary else self.x
        return self._cache["p"]

    def z(self) -> Array:
        """Logit of each outcome [..., K] (finite; from logits without cancellation)."""
        if "z" not in self._cache:
            be, x = self.be, self.x
            if self.binary and self.from_logits:
                self._cache["z"] = be.stack_last([x, -x])
            elif self.binary:
                lp, l1mp = be.clamped_log(x), be.clamped_log1m(x)
                self._cache["z"] = be.stack_last([lp - l1mp, l1mp - lp])
            elif self.from_logits:
                self._cache["z"] = self.logp - log1m_softmax(be, self.logp)
            else:
                self._cache["z"] = self.logp - be.clamped_log1m(x)
        return self._cache["z"]

    def weighted_q(self) -> Array:
        return self.q if self.class_w is None else self.q * self.class_w

    def ce(self) -> Array:
        """Cross-entropy per sample [...]: -sum_k w_k q_k log p_k."""
        if self.pair is not None:
            lp, l1mp, y = self.pair
            if self.hard:
                return -self.be.where(y > 0.5, lp, l1mp)
            return -(y * lp + (1.0 - y) * l1mp)
        return -self.be.sum_last(self.weighted_q() * self.logp)

    def log1m_pt(self) -> Array:
        """log(1 - p_t) [...], p_t = sum_k q_k p_k, as logsumexp_k(log(1 - q_k) + log p_k)."""
        be = self.be
        if self.pair is not None:
            lp, l1mp, y = self.pair
            if self.hard:  # 1 - p_t is 1 - p for a positive, p for a negative
                return be.where(y > 0.5, l1mp, lp)
            return be.logaddexp(be.log1p(-y) + lp, be.log(y) + l1mp)
        return be.logsumexp(be.log1p(-self.q) + self.logp)

    def log_pt(self) -> Array:
        """log p_t [...], p_t = sum_k q_k p_k."""
        be = self.be
        return be.logsumexp(be.log(self.q) + self.logp)

    def alpha_t(self, alpha_k: Array) -> Array:
        """alpha_t = sum_k q_k alpha_k [...] (binary: alpha y + (1 - alpha)(1 - y))."""
        if self.pair is not None:
            y = self.pair[2]
            if self.hard:
                return self.be.where(y > 0.5, alpha_k[0], alpha_k[1])
            return y * alpha_k[0] + (1.0 - y) * alpha_k[1]
        return self.be.sum_last(self.q * alpha_k)

    def above(self, m: float) -> Array:
        """theta(p_k - m) per outcome [..., K] (a constant; theta(0) = 1/2)."""
        be = self.be
        if self.from_logits:
            return be.step(be.detach(self.z()) - math.log(m / (1.0 - m)))
        return be.step(be.detach(self.probs()) - m)

    def target_above(self, m: float) -> Array:
        """theta(q_k - m) per outcome [..., K]."""
        return self.be.step(self.q - m)


def log1m_softmax(be: Any, logp: Array) -> Array:
    """log(1 - p_c) for every class from log-softmax ``logp`` [..., C] -> [..., C], finite for finite logits.

    Off the arg-max class ``p_c <= 1/2`` so ``log1p(-p_c)`` is exact; at the arg-max class it is the
    log-sum-exp of the other classes' log-probabilities (no ``1 - p`` cancellation as ``p -> 1``).
    """
    is_max = be.argmax_onehot(logp)
    others = be.logsumexp(be.where(is_max, -math.inf, logp))  # [...]
    p_off = be.where(is_max, 0.0, be.exp(logp))  # the arg-max entry zeroed so its branch stays finite
    return be.where(is_max, others[..., None], be.log1p(-p_off))


def build(
    input: Any,
    target: Any,
    *,
    kind: str,
    from_logits: bool,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Dist:
    """Validate ``input``/``target`` and build the distribution view (see the module docstring)."""
    kind = check_kind(kind)
    x = check_input(input, from_logits=from_logits, kind=kind)
    be = backend_for(x)
    ignore_index = check_ignore_index(ignore_index)
    eps = check_number("label_smoothing", label_smoothing, 0.0, 1.0, hi_open=True)
    shape = tuple(x.shape)
    w = check_weight(weight, shape, kind=kind)
    t = as_target_array(target, x)
    tv = as_numpy(t)
    if kind == "binary":
        return _binary(be, x, t, tv, from_logits, w, ignore_index, eps)
    return _multiclass(be, x, t, tv, from_logits, w, ignore_index, eps)


def _binary(be: Any, x: Any, t: Any, tv: Any, from_logits: bool, w: Any, ignore: int, eps: float) -> Dist:
    same_shape("target", tv.shape, x.shape, "the input's shape")
    if tv.dtype.kind not in "biuf":
        raise LossInputError("target", f"must be numeric, got dtype {tv.dtype}")
    if tv.size and tv.min() >= 0 and tv.max() <= 1 and not 0 <= ignore <= 1:
        ignored = None  # the common case, decided by two fast reductions: all in range, none ignored
    else:
        ignored = tv == ignore
        if not (((tv >= 0) & (tv <= 1)) | ignored).all():
            raise LossInputError(
                "target", f"binary targets must lie in [0, 1] (or equal ignore_index={ignore})"
            )
        ignored = ignored if ignored.any() else None
    counted = None
    y = t.to(x.dtype) if be.name == "torch" else t.astype(x.dtype)
    if ignored is not None:
        counted = ~(t == ignore)
        y = be.where(counted, y, 0.0)
    if eps:
        y = y * (1.0 - eps) + eps / 2.0
    if from_logits:
        pair = (be.log_sigmoid(x), be.log_sigmoid(-x), y)
    else:
        pair = (be.clamped_log(x), be.clamped_log1m(x), y)
    elem_w = None if w is None else be.asarray(w, like=x)
    hard_or_ignored = (tv == 0) | (tv == 1) if ignored is None else (tv == 0) | (tv == 1) | ignored
    hard = not eps and bool(np.all(hard_or_ignored))
    return Dist(be, x, True, from_logits, pair=pair, counted=counted, elem_w=elem_w, hard=hard)


def _multiclass(be: Any, x: Any, t: Any, tv: Any, from_logits: bool, w: Any, ignore: int, eps: float) -> Dist:
    num_classes = int(x.shape[-1])
    class_w = None if w is None else be.asarray(w, like=x)
    counted = denom = None
    if tuple(tv.shape) == tuple(x.shape[:-1]):
        if tv.dtype.kind not in "iu":
            raise LossInputError("target", f"class-index targets must be integers, got dtype {tv.dtype}")
        ignored = tv == ignore
        if not (((tv >= 0) & (tv < num_classes)) | ignored).all():
            raise LossInputError(
                "target", f"class indices must lie in [0, {num_classes}) or equal ignore_index={ignore}"
            )
        idx = t
        if ignored.any():
            counted = ~(t == ignore)
            idx = be.where(counted, t, 0)
        q = be.one_hot(idx, num_classes, like=x)  # [...] -> [..., C]
        if counted is not None:
            q = q * counted[..., None]
        if class_w is not None:
            denom = be.sum_last(q * class_w)  # w[target], 0 where ignored
        index_targets = True
    elif tuple(tv.shape) == tuple(x.shape):
        if tv.dtype.kind not in "biuf" or not ((tv >= 0) & (tv <= 1)).all():
            raise LossInputError("target", "target distributions must be numeric with entries in [0, 1]")
        check_rows("target", tv)
        q = t.to(x.dtype) if be.name == "torch" else t.astype(x.dtype)
        index_targets = False
    else:
        raise LossInputError(
            "target",
            f"shape {tuple(tv.shape)} matches neither class indices {tuple(x.shape[:-1])} "
            f"nor distributions {tuple(x.shape)}",
        )
    if eps:
        q = q * (1.0 - eps) + eps / num_classes
        if counted is not None:
            q = q * counted[..., None]
    logp = be.log_softmax(x) if from_logits else be.clamped_log(x)
    return Dist(
        be,
        x,
        False,
        from_logits,
        logp=logp,
        q=q,
        counted=counted,
        class_w=class_w,
        denom=denom,
        index_targets=index_targets,
    )


def np_float(x: Any) -> float:
    """A Python float from a 0-d array or tensor."""
    return float(np.asarray(as_numpy(x), dtype=np.float64))
