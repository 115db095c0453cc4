"""Loss anatomy (placeholder until filled in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LossAnatomy:
    total: float


def loss_anatomy(input: Any, target: Any, *, loss: str = "focal", **params: Any) -> LossAnatomy:
    raise NotImplementedError
