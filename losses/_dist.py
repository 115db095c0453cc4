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
from dataclasses import dataclass, field
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


@dataclass
class Dist:
    """Validated prediction + target on a class axis. Arrays are numpy or torch (``be`` says which)."""

    be: Any
    x: Array  # the validated input, original shape
    binary: bool
    from_logits: bool
    logp: Array  # [..., K]
    q: Array  # [..., K]
    counted: Array | None  # bool [...]: False where the target is ignore_index; None: all counted
    class_w: Array | None  # [K] per-class weights (multiclass)
    elem_w: Array | None  # broadcastable to [...] (binary elementwise weight)
    denom: Array | None  # [...] mean denominator weights (multiclass index targets with weight)
    index_targets: bool
    _cache: dict[str, Array] = field(default_factory=dict)

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
        return -self.be.sum_last(self.weighted_q() * self.logp)

    def log1m_pt(self) -> Array:
        """log(1 - p_t) [...], p_t = sum_k q_k p_k, as logsumexp_k(log(1 - q_k) + log p_k)."""
        be = self.be
        return be.logsumexp(be.log1p(-self.q) + self.logp)

    def log_pt(self) -> Array:
        """log p_t [...], p_t = sum_k q_k p_k."""
        be = self.be
        return be.logsumexp(be.log(self.q) + self.logp)

    def alpha_t(self, alpha_k: Array) -> Array:
        """alpha_t = sum_k q_k alpha_k [...] (binary: alpha y + (1 - alpha)(1 - y))."""
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
    ignored = tv == ignore
    if not (((tv >= 0) & (tv <= 1)) | ignored).all():
        raise LossInputError("target", f"binary targets must lie in [0, 1] (or equal ignore_index={ignore})")
    counted = None
    y = t.to(x.dtype) if be.name == "torch" else t.astype(x.dtype)
    if ignored.any():
        counted = ~(t == ignore)
        y = be.where(counted, y, 0.0)
    if eps:
        y = y * (1.0 - eps) + eps / 2.0
    q = be.stack_last([y, 1.0 - y])  # [...] -> [..., 2]
    if from_logits:
        logp = be.stack_last([be.log_sigmoid(x), be.log_sigmoid(-x)])
    else:
        logp = be.stack_last([be.clamped_log(x), be.clamped_log1m(x)])
    elem_w = None if w is None else be.asarray(w, like=x)
    return Dist(be, x, True, from_logits, logp, q, counted, None, elem_w, None, True)


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
    return Dist(be, x, False, from_logits, logp, q, counted, class_w, None, denom, index_targets)


def np_float(x: Any) -> float:
    """A Python float from a 0-d array or tensor."""
    return float(np.asarray(as_numpy(x), dtype=np.float64))
