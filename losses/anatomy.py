"""Loss anatomy: where a binary/multilabel loss comes from (the focal-loss paper's figure 4).

Under focal loss (gamma 2) most of the negatives' loss comes from a small fraction of hard negatives; under
cross-entropy it is spread over the many easy ones. ``loss_anatomy`` makes that visible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validate import as_numpy, check_input
from .errors import LossInputError
from .registry import get_loss

FRACTIONS: tuple[float, ...] = tuple(round(i * 0.05, 2) for i in range(21))
_ANATOMY_LOSSES = (
    "cross_entropy",
    "focal",
    "focal_star",
    "hard_truncated",
    "soft_truncated",
    "kl_divergence",
)


@dataclass(frozen=True)
class LossAnatomy:
    """Where the total loss comes from. Shares are fractions of ``total`` (None when ``total`` is 0).

    ``cumulative_positive[i]`` is the share of the positives' loss carried by the ``fractions[i]`` of
    positives with the smallest loss (sorted ascending, linear interpolation); None for an empty group or a
    group with zero loss. Likewise for negatives. Positives are targets > 0.5; ignored elements are left out.
    """

    loss: str
    total: float
    count: int
    positives: int
    negatives: int
    easy: int  # elements with p_t > 0.5
    share_positive: float | None
    share_negative: float | None
    share_easy: float | None
    fractions: tuple[float, ...]
    cumulative_positive: tuple[float, ...] | None
    cumulative_negative: tuple[float, ...] | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _cumulative(values: np.ndarray[Any, Any]) -> tuple[float, ...] | None:
    total = float(np.sum(values, dtype=np.float64))
    if values.size == 0 or total <= 0:
        return None
    curve = np.concatenate([[0.0], np.cumsum(np.sort(values), dtype=np.float64)]) / total  # [n + 1]
    points = np.interp(np.asarray(FRACTIONS) * values.size, np.arange(values.size + 1), curve)
    return tuple(float(v) for v in points)


def loss_anatomy(input: Any, target: Any, *, loss: str = "focal", **params: Any) -> LossAnatomy:
    """Anatomy of a binary/multilabel loss over ``input``/``target`` (any shape, elementwise).

    ``loss`` is a name from ``LOSS_NAMES`` that takes a target; ``params`` are its options (``kind`` must be
    binary; ``reduction``/``normalizer`` are accepted and ignored: the anatomy is of the per-element losses).
    """
    if loss not in _ANATOMY_LOSSES:
        get_loss(loss)  # unknown name -> LossInputError("name")
        raise LossInputError("loss", f"anatomy needs a loss with targets, one of {_ANATOMY_LOSSES}")
    if params.get("kind", "binary") != "binary":
        raise LossInputError("kind", "the anatomy is for binary/multilabel losses (kind='binary')")
    opts = {k: v for k, v in params.items() if k not in ("kind", "reduction", "normalizer")}
    per_elem = get_loss(loss)(input, target, kind="binary", reduction="none", **opts)
    values = np.asarray(as_numpy(per_elem), dtype=np.float64).reshape(-1)
    from_logits = bool(opts.get("from_logits", True))
    x = np.asarray(as_numpy(check_input(input, from_logits=from_logits, kind="binary")), np.float64).reshape(
        -1
    )
    y = np.asarray(as_numpy(target), dtype=np.float64).reshape(-1)
    counted = y != opts.get("ignore_index", -100)
    values, x, y = values[counted], x[counted], y[counted]
    p = 0.5 * (1.0 + np.tanh(0.5 * x)) if from_logits else x  # sigmoid, no overflow
    easy = (p * y + (1.0 - p) * (1.0 - y)) > 0.5
    pos = y > 0.5
    total = float(np.sum(values, dtype=np.float64))

    def share(mask: np.ndarray[Any, Any]) -> float | None:
        return float(np.sum(values[mask], dtype=np.float64)) / total if total > 0 else None

    return LossAnatomy(
        loss=loss,
        total=total,
        count=int(values.size),
        positives=int(np.count_nonzero(pos)),
        negatives=int(values.size - np.count_nonzero(pos)),
        easy=int(np.count_nonzero(easy)),
        share_positive=share(pos),
        share_negative=share(~pos),
        share_easy=share(easy),
        fractions=FRACTIONS,
        cumulative_positive=_cumulative(values[pos]),
        cumulative_negative=_cumulative(values[~pos]),
    )
