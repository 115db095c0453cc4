"""Shared helpers for the loss tests: reference formulas re-typed from their published form, test data."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def torchvision_focal(
    x: torch.Tensor, y: torch.Tensor, alpha: float | None = 0.25, gamma: float = 2.0
) -> Any:
    """torchvision's sigmoid_focal_loss formula, reduction 'none' (alpha None: no weighting)."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def rel(a: Any, b: Any) -> float:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a64 - b64) / np.maximum(np.abs(b64), 1e-12)))


def to_np(t: Any) -> np.ndarray[Any, Any]:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def binary_case(rng: np.random.Generator, shape=(64, 7), dtype=np.float64, extreme=True):
    """Random logits (with +-100 entries when extreme) and hard 0/1 targets."""
    x = rng.normal(size=shape) * 4
    if extreme:
        x.flat[:4] = [100.0, -100.0, 60.0, -60.0]
    y = (rng.random(shape) < 0.3).astype(np.float64)
    y.flat[:4] = [1.0, 1.0, 0.0, 1.0]
    return x.astype(dtype), y.astype(dtype)


def multiclass_case(rng: np.random.Generator, n=40, c=6, dtype=np.float64, extreme=True):
    x = rng.normal(size=(n, c)) * 4
    if extreme:
        x[0] = [100.0, -100.0, -100.0, 0.0, 3.0, -3.0][:c] + [0.0] * max(0, c - 6)
        x[1, :] = -100.0
        x[1, 2] = 100.0
    t = rng.integers(0, c, n)
    t[0] = 0
    t[1] = 0
    return x.astype(dtype), t
