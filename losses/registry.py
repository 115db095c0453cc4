"""Loss lookup by name, and the clamped-probability count the scoring API reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._validate import as_numpy, check_input
from .cross_entropy import cross_entropy
from .entropy import entropy, kl_divergence
from .errors import LossInputError
from .focal import focal_loss, focal_loss_star
from .truncated import hard_truncated_cross_entropy, soft_truncated_cross_entropy

_LOSSES: dict[str, Callable[..., Any]] = {
    "entropy": entropy,
    "cross_entropy": cross_entropy,
    "kl_divergence": kl_divergence,
    "focal": focal_loss,
    "focal_star": focal_loss_star,
    "hard_truncated": hard_truncated_cross_entropy,
    "soft_truncated": soft_truncated_cross_entropy,
}
LOSS_NAMES: tuple[str, ...] = tuple(_LOSSES)


def get_loss(name: str) -> Callable[..., Any]:
    """The loss function registered under ``name`` (one of ``LOSS_NAMES``)."""
    try:
        return _LOSSES[name]
    except (KeyError, TypeError):
        raise LossInputError("name", f"unknown loss {name!r}; known: {', '.join(LOSS_NAMES)}") from None


def clamped_count(input: Any, *, from_logits: bool) -> int:
    """How many probabilities have ``log p`` or ``log(1 - p)`` clamped at -100 (0 for logits).

    Probabilities are validated (in [0, 1]); this counts elements, so a multiclass row with a 0 counts once
    per zero entry.
    """
    if from_logits:
        check_input(input, from_logits=True, kind="binary")
        return 0
    p = as_numpy(check_input(input, from_logits=False, kind="binary")).astype(np.float64)
    with np.errstate(divide="ignore"):
        clamped = (np.log(p) < -100.0) | (np.log1p(-p) < -100.0)
    return int(np.count_nonzero(clamped))
