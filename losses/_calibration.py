"""Calibration of the predicted probabilities as a mergeable histogram: reliability bins, ECE and MCE.

``bins`` uniform bins of confidence on [0, 1] (a confidence of exactly 1 goes in the last). Binary/multilabel:
each element's confidence is its predicted probability ``p`` and its accuracy the target (the observed
frequency of the positive class; soft targets count fractionally). Multiclass: the confidence is the largest
class probability and the accuracy 1 when that class is the target (a distribution target's largest entry).
Ignored elements are left out. Per bin: the count and exact sums of confidence and accuracy; then
``ECE = sum_b |acc_b - conf_b| * count_b / total`` and ``MCE = max_b |acc_b - conf_b|`` over non-empty bins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _exact


@dataclass
class Calibration:
    bins: int
    counts: list[int] = field(default_factory=list)
    confidence: list[_exact.Partials] = field(default_factory=list)
    accuracy: list[_exact.Partials] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * self.bins
        self.confidence = self.confidence or [[] for _ in range(self.bins)]
        self.accuracy = self.accuracy or [[] for _ in range(self.bins)]

    def update(self, x: Any, y: Any, kind: str, from_logits: bool, ignore_index: int) -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        if kind == "binary":
            conf = 0.5 * (1.0 + np.tanh(0.5 * x)) if from_logits else x
            counted = y != ignore_index
            conf, acc = conf[counted], y[counted].astype(np.float64)
        else:
            if from_logits:
                shifted = np.exp(x - x.max(axis=-1, keepdims=True))
                probs = shifted / shifted.sum(axis=-1, keepdims=True)
            else:
                probs = x
            conf = probs.max(axis=-1)
            predicted = probs.argmax(axis=-1)
            if y.shape == x.shape:
                target, counted = y.argmax(axis=-1), np.ones(conf.shape, dtype=bool)
            else:
                target, counted = y, y != ignore_index
            conf, acc = conf[counted], (predicted == target)[counted].astype(np.float64)
        conf, acc = conf.reshape(-1), acc.reshape(-1)
        keys = np.minimum((conf * self.bins).astype(np.int64), self.bins - 1)
        counts = np.bincount(keys, minlength=self.bins)
        conf_sums = _exact.segment_sums(keys, conf, self.bins)
        acc_sums = _exact.segment_sums(keys, acc, self.bins)
        for b in np.flatnonzero(counts):
            self.counts[b] += int(counts[b])
            _exact.add(self.confidence[b], conf_sums[b])
            _exact.add(self.accuracy[b], acc_sums[b])

    def merged(self, other: Calibration) -> Calibration:
        return Calibration(
            self.bins,
            [a + b for a, b in zip(self.counts, other.counts, strict=True)],
            [_exact.merged(a, b) for a, b in zip(self.confidence, other.confidence, strict=True)],
            [_exact.merged(a, b) for a, b in zip(self.accuracy, other.accuracy, strict=True)],
        )

    def result(self) -> dict[str, Any]:
        total = sum(self.counts)
        rows = []
        gaps: _exact.Partials = []
        mce = None
        for b in range(self.bins):
            n = self.counts[b]
            conf = _exact.value(self.confidence[b]) / n if n else None
            acc = _exact.value(self.accuracy[b]) / n if n else None
            if conf is not None and acc is not None:
                gap = abs(acc - conf)
                _exact.add(gaps, gap * n)
                mce = gap if mce is None else max(mce, gap)
            rows.append(
                {
                    "lower": b / self.bins,
                    "upper": (b + 1) / self.bins,
                    "count": n,
                    "confidence": conf,
                    "accuracy": acc,
                }
            )
        return {
            "bins": self.bins,
            "count": total,
            "ece": _exact.value(gaps) / total if total else None,
            "mce": mce,
            "reliability": rows,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "bins": self.bins,
            "counts": self.counts,
            "confidence": self.confidence,
            "accuracy": self.accuracy,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Calibration:
        return cls(
            int(doc["bins"]),
            [int(c) for c in doc["counts"]],
            [[float(v) for v in p] for p in doc["confidence"]],
            [[float(v) for v in p] for p in doc["accuracy"]],
        )
