"""Analytic gradients (placeholder until filled in)."""

from __future__ import annotations

from typing import Any


def loss_gradient(name: str, input: Any, target: Any, **params: Any) -> Any:
    raise NotImplementedError
