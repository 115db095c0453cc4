"""Two thin array backends with one interface, so that every loss formula is written once.

``backend_for(x)`` returns the numpy backend for numpy input and the torch backend for a ``torch.Tensor``;
torch is imported only then, so the numpy path runs where torch is not installed. Each backend method is
elementwise unless it says otherwise; "last axis" methods reduce or gather over the class axis ``[..., K]``.
Reductions to a scalar accumulate in float64 (``sum64``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .types import Array

_LOG_CLAMP = -100.0  # torch BCELoss convention: log of a probability is clamped at -100


def is_torch(x: object) -> bool:
    """True for a torch.Tensor, decided without importing torch."""
    return type(x).__module__.startswith("torch")


class NumpyBackend:
    """Numpy implementation. Warnings from log(0) / exp overflow are silenced where -inf/0 is the intent."""

    name = "numpy"

    @staticmethod
    def asarray(x: Any, like: Array) -> Array:
        return np.asarray(x, dtype=like.dtype)

    @staticmethod
    def exp(x: Array) -> Array:
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(x)

    @staticmethod
    def log(x: Array) -> Array:
        """log with log(0) = -inf and no warning."""
        with np.errstate(divide="ignore"):
            return np.log(x)

    @staticmethod
    def log1p(x: Array) -> Array:
        with np.errstate(divide="ignore"):
            return np.log1p(x)

    @staticmethod
    def clamped_log(p: Array) -> Array:
        """log p clamped at -100 (p may be exactly 0)."""
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(p), _LOG_CLAMP)

    @staticmethod
    def clamped_log1m(p: Array) -> Array:
        """log(1 - p) clamped at -100 (p may be exactly 1)."""
        with np.errstate(divide="ignore"):
            return np.maximum(np.log1p(-p), _LOG_CLAMP)

    @staticmethod
    def log_sigmoid(x: Array) -> Array:
        """log sigmoid(x) = -softplus(-x), stable for any finite x."""
        return -np.logaddexp(0.0, -x)

    @staticmethod
    def softplus(x: Array) -> Array:
        return np.logaddexp(0.0, x)

    @staticmethod
    def sigmoid(x: Array) -> Array:
        with np.errstate(over="ignore"):
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)

    @staticmethod
    def log_softmax(x: Array) -> Array:
        """log softmax over the last axis, max subtracted: [..., C] -> [..., C]."""
        shifted = x - np.max(x, axis=-1, keepdims=True)
        with np.errstate(under="ignore"):
            return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))

    @staticmethod
    def logsumexp(a: Array) -> Array:
        """log sum exp over the last axis: [..., K] -> [...]; -inf entries allowed (not all)."""
        m = np.max(a, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        with np.errstate(under="ignore", divide="ignore"):
            return np.log(np.sum(np.exp(a - m), axis=-1)) + m[..., 0]

    @staticmethod
    def logaddexp(a: Array, b: Array) -> Array:
        """log(exp a + exp b); one of a, b may be -inf."""
        return np.logaddexp(a, b)

    @staticmethod
    def sum_last(a: Array) -> Array:
        return np.sum(a, axis=-1)

    @staticmethod
    def stack_last(parts: list[Array]) -> Array:
        return np.stack(parts, axis=-1)

    @staticmethod
    def where(c: Array, a: Any, b: Any) -> Array:
        return np.where(c, a, b)

    @staticmethod
    def maximum(a: Array, v: float) -> Array:
        return np.maximum(a, v)

    @staticmethod
    def step(a: Array) -> Array:
        """The unit step with step(0) = 1/2; constant (no gradient)."""
        return (np.sign(a) + 1.0) * 0.5

    @staticmethod
    def argmax_onehot(x: Array) -> Array:
        """Boolean [..., C], True at the first maximum of each row."""
        idx = np.argmax(x, axis=-1)
        return np.arange(x.shape[-1]) == idx[..., None]

    @staticmethod
    def one_hot(idx: Array, num_classes: int, like: Array) -> Array:
        return (np.arange(num_classes) == idx[..., None]).astype(like.dtype)

    @staticmethod
    def sum64(a: Array) -> Array:
        """Sum of every element, accumulated in float64 (numpy: pairwise), as a float64 scalar."""
        return np.sum(a, dtype=np.float64)

    @staticmethod
    def finish(value: Array, like: Array) -> Array:
        """A float64 reduced value cast back to the input's dtype."""
        return np.asarray(value, dtype=np.float64).astype(like.dtype)[()]

    @staticmethod
    def detach(a: Array) -> Array:
        return a

    @staticmethod
    def to_numpy(a: Array) -> np.ndarray[Any, Any]:
        return np.asarray(a)


LOG_CLAMP = _LOG_CLAMP
LOG_TINY = {np.dtype(np.float16): math.log(6e-8), np.dtype(np.float32): math.log(1.2e-38)}


def backend_for(x: object) -> Any:
    """The backend for ``x``'s array type (torch imported only when x is a tensor)."""
    if is_torch(x):
        from ._torch_backend import TorchBackend

        return TorchBackend
    return NumpyBackend
