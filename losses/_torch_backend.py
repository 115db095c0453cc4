"""The torch backend (imported only when a tensor comes in): same methods as ``NumpyBackend``.

Every method is differentiable by autograd except ``step``/``argmax_onehot`` (constants by definition).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ._backend import LOG_CLAMP
from .types import Array


class TorchBackend:
    """Torch implementation of the backend interface."""

    name = "torch"

    @staticmethod
    def asarray(x: Any, like: Array) -> Array:
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)

    @staticmethod
    def exp(x: Array) -> Array:
        return torch.exp(x)

    @staticmethod
    def log(x: Array) -> Array:
        return torch.log(x)

    @staticmethod
    def log1p(x: Array) -> Array:
        return torch.log1p(x)

    @staticmethod
    def clamped_log(p: Array) -> Array:
        return torch.clamp(torch.log(p), min=LOG_CLAMP)

    @staticmethod
    def clamped_log1m(p: Array) -> Array:
        return torch.clamp(torch.log1p(-p), min=LOG_CLAMP)

    @staticmethod
    def log_sigmoid(x: Array) -> Array:
        return F.logsigmoid(x)

    @staticmethod
    def softplus(x: Array) -> Array:
        return -F.logsigmoid(-x)

    @staticmethod
    def sigmoid(x: Array) -> Array:
        return torch.sigmoid(x)

    @staticmethod
    def log_softmax(x: Array) -> Array:
        return torch.log_softmax(x, dim=-1)

    @staticmethod
    def logsumexp(a: Array) -> Array:
        return torch.logsumexp(a, dim=-1)

    @staticmethod
    def logaddexp(a: Array, b: Array) -> Array:
        return torch.logaddexp(a, b)

    @staticmethod
    def sum_last(a: Array) -> Array:
        return torch.sum(a, dim=-1)

    @staticmethod
    def stack_last(parts: list[Array]) -> Array:
        return torch.stack(parts, dim=-1)

    @staticmethod
    def where(c: Array, a: Any, b: Any) -> Array:
        return torch.where(c, a, b)

    @staticmethod
    def maximum(a: Array, v: float) -> Array:
        return torch.clamp(a, min=v)

    @staticmethod
    def step(a: Array) -> Array:
        return (torch.sign(a.detach()) + 1.0) * 0.5

    @staticmethod
    def argmax_onehot(x: Array) -> Array:
        idx = torch.argmax(x.detach(), dim=-1)
        return F.one_hot(idx, x.shape[-1]).bool()

    @staticmethod
    def one_hot(idx: Array, num_classes: int, like: Array) -> Array:
        return F.one_hot(idx.long(), num_classes).to(like.dtype)

    @staticmethod
    def sum64(a: Array) -> Array:
        return torch.sum(a, dtype=torch.float64)

    @staticmethod
    def finish(value: Array, like: Array) -> Array:
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value, dtype=torch.float64, device=like.device)
        return value.to(like.dtype)

    @staticmethod
    def detach(a: Array) -> Array:
        return a.detach()

    @staticmethod
    def to_numpy(a: Array) -> np.ndarray[Any, Any]:
        return np.asarray(a.detach().cpu().numpy())
