"""The loss anatomy as a mergeable histogram: the per-element loss summed in fixed bins of ``p_t``.

Bins are uniform in ``logit(p_t)`` (width 0.25 from -16 to 16, plus one bin below and one above), so they are
fine both where elements are hard and where they are easy. Counts and exact loss sums per bin, per group
(positives: target > 0.5; negatives), plus the easy elements' (``p_t > 0.5``) count and loss, merge exactly.

The shares are exact. The cumulative curves are read at the bin edges, walking from the easiest bin (highest
``p_t``) to the hardest: a point is (fraction of the group's elements, fraction of its loss). For hard targets
without elementwise weights, the loss is decreasing in ``p_t`` within a group, so these points are exactly the
one-shot sorted curve of `loss_anatomy` at those fractions. The curve at the one-shot's ``FRACTIONS`` is then
interpolated linearly between edges (the one-shot interpolates between sorted elements instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _exact
from .anatomy import FRACTIONS

#: the bin edges, in logit(p_t); ``len(EDGES) + 1`` bins
EDGES = np.arange(-64, 65) * 0.25
BINS = len(EDGES) + 1


def _zeros() -> list[int]:
    return [0] * BINS


def _empty() -> list[_exact.Partials]:
    return [[] for _ in range(BINS)]


@dataclass
class AnatomyBins:
    """Per group (0: negatives, 1: positives): element counts and exact loss sums per bin."""

    counts: list[list[int]] = field(default_factory=lambda: [_zeros(), _zeros()])
    losses: list[list[_exact.Partials]] = field(default_factory=lambda: [_empty(), _empty()])
    easy: int = 0
    easy_loss: _exact.Partials = field(default_factory=list)

    def update(self, x: Any, y: Any, values: Any, from_logits: bool, ignore_index: int) -> None:
        """Add a chunk: ``x`` logits or probabilities, ``y`` targets, ``values`` the per-element losses."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        v = np.broadcast_to(np.asarray(values, dtype=np.float64), x.shape).reshape(-1)
        x = x.reshape(-1)
        counted = y != ignore_index
        x, y, v = x[counted], y[counted], v[counted]
        p = 0.5 * (1.0 + np.tanh(0.5 * x)) if from_logits else x
        p_t = p * y + (1.0 - p) * (1.0 - y)
        easy = p_t > 0.5
        with np.errstate(divide="ignore"):
            z = np.log(p_t) - np.log1p(-p_t)  # logit(p_t), +-inf at 1 and 0
        bins = np.searchsorted(EDGES, z, side="right")
        pos = y > 0.5
        for group, mask in ((0, ~pos), (1, pos)):
            keys = bins[mask]
            counts = np.bincount(keys, minlength=BINS)
            sums = _exact.segment_sums(keys, v[mask], BINS)
            for b in np.flatnonzero(counts):
                self.counts[group][b] += int(counts[b])
                _exact.add(self.losses[group][b], sums[b])
        self.easy += int(np.count_nonzero(easy))
        _exact.add(self.easy_loss, _exact.array_sum(v[easy]))

    def merged(self, other: AnatomyBins) -> AnatomyBins:
        return AnatomyBins(
            counts=[
                [a + b for a, b in zip(s, o, strict=True)]
                for s, o in zip(self.counts, other.counts, strict=True)
            ],
            losses=[
                [_exact.merged(a, b) for a, b in zip(s, o, strict=True)]
                for s, o in zip(self.losses, other.losses, strict=True)
            ],
            easy=self.easy + other.easy,
            easy_loss=_exact.merged(self.easy_loss, other.easy_loss),
        )

    def _curve(self, group: int) -> tuple[list[float], list[float]] | None:
        """(element fraction, loss fraction) at every bin edge, easiest bin first; None if no loss."""
        counts = np.array(self.counts[group][::-1], dtype=np.float64)
        losses = np.array([_exact.value(p) for p in self.losses[group][::-1]])
        n, total = counts.sum(), _exact.value([v for p in self.losses[group] for v in p])
        if n == 0 or total <= 0:
            return None
        cum_losses = [0.0]
        partials: _exact.Partials = []
        for value in losses:
            _exact.add(partials, float(value))
            cum_losses.append(_exact.value(partials) / total)
        return [0.0, *(np.cumsum(counts) / n).tolist()], cum_losses

    def result(self, loss: str) -> dict[str, Any]:
        """The anatomy, in `LossAnatomy`'s keys, plus the exact curves at the bin edges."""
        group_totals = [_exact.value([v for p in self.losses[g] for v in p]) for g in (0, 1)]
        total = _exact.value([v for g in (0, 1) for p in self.losses[g] for v in p])
        negatives, positives = (sum(self.counts[g]) for g in (0, 1))

        def share(value: float) -> float | None:
            return value / total if total > 0 else None

        out: dict[str, Any] = {
            "loss": loss,
            "total": total,
            "count": negatives + positives,
            "positives": positives,
            "negatives": negatives,
            "easy": self.easy,
            "share_positive": share(group_totals[1]),
            "share_negative": share(group_totals[0]),
            "share_easy": share(_exact.value(self.easy_loss)),
            "fractions": list(FRACTIONS),
            "bin_edges_p_t": (1.0 / (1.0 + np.exp(-EDGES[::-1]))).tolist(),
        }
        for name, group in (("positive", 1), ("negative", 0)):
            curve = self._curve(group)
            out[f"cumulative_{name}"] = (
                None if curve is None else np.interp(FRACTIONS, curve[0], curve[1]).tolist()
            )
            out[f"curve_{name}"] = None if curve is None else {"elements": curve[0], "loss": curve[1]}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "losses": self.losses, "easy": self.easy, "easy_loss": self.easy_loss}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> AnatomyBins:
        return cls(
            counts=[[int(c) for c in g] for g in doc["counts"]],
            losses=[[[float(v) for v in p] for p in g] for g in doc["losses"]],
            easy=int(doc["easy"]),
            easy_loss=[float(v) for v in doc["easy_loss"]],
        )
