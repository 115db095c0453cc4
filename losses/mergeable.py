"""Mergeable score state: the sufficient statistics of every reduction, so data split over calls, processes or
machines gives the answer one call on all of it gives (the contract's "Mergeable reductions").

``ScoreState(spec)`` holds, per loss, the exact float64 sum of its per-sample values (`_exact` partials), the
sum of the mean's per-sample weights (`_reduce.mean_weights`: counted elements, or class weights), the sample
count ``batchmean`` divides by and, where asked, the same per class; for the first loss of a binary spec the
anatomy histogram (`_anatomy_bins`), and the calibration histogram (`_calibration`). ``update`` adds a
chunk, ``merge`` adds two states (associative and commutative: exact partials and integer counts), ``result``
gives the summary. A state serialises to JSON (``to_dict`` / ``to_bytes``) and back, losslessly.

The per-sample values are the loss functions' own (``reduction="none"``), and the mean's divisor is the one
`_reduce.divisor` uses, so a merged ``mean`` equals the one-shot ``mean`` within 1e-12 relative (only the
order of float64 additions differs). ``sum`` with a ``normalizer`` divides by ``max(1, N)``: N is the spec's
``normalizer`` if given, else the sum of the N's passed to ``update`` (the detection convention over chunks).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _exact
from ._anatomy_bins import AnatomyBins
from ._calibration import Calibration
from ._reduce import mean_weights
from ._validate import as_numpy
from .errors import LossInputError
from .registry import clamped_count, get_loss

__all__ = ["LossStat", "ScoreSpec", "ScoreState"]

#: losses called without a target
_NO_TARGET = {"entropy"}
_VERSION = 1
#: the most classes a per-class breakdown keeps (each holds exact sums per loss)
MAX_CLASSES = 4096


@dataclass(frozen=True)
class ScoreSpec:
    """What a state accumulates: the losses (name + parameters, each with an explicit reduction), and the
    optional breakdowns. Two states merge only if their specs are equal."""

    losses: tuple[tuple[str, Mapping[str, Any]], ...]
    kind: str = "binary"
    from_logits: bool = True
    anatomy: bool = False
    per_class: bool = False
    calibration_bins: int | None = None

    @classmethod
    def build(cls, losses: Sequence[tuple[str, Mapping[str, Any]]], **options: Any) -> ScoreSpec:
        """A spec with each loss's reduction made explicit (its function's default when unset); ``none``,
        which has no reduced value, is refused."""
        resolved = []
        for name, params in losses:
            fn = get_loss(name)
            p = dict(params)
            p.setdefault("reduction", inspect.signature(fn).parameters["reduction"].default)
            if p["reduction"] == "none":
                raise LossInputError("reduction", f"{name}: 'none' has no merged value; use mean, sum, ...")
            resolved.append((name, p))
        bins = options.get("calibration_bins")
        if bins is not None and (
            isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 1000
        ):
            raise LossInputError("calibration_bins", f"must be an integer in [1, 1000], got {bins!r}")
        if options.get("anatomy") and options.get("kind", "binary") != "binary":
            raise LossInputError("anatomy", "the anatomy is for binary/multilabel losses (kind='binary')")
        return cls(losses=tuple(resolved), **options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "losses": [[n, dict(p)] for n, p in self.losses],
            "kind": self.kind,
            "from_logits": self.from_logits,
            "anatomy": self.anatomy,
            "per_class": self.per_class,
            "calibration_bins": self.calibration_bins,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ScoreSpec:
        losses = tuple((str(n), dict(p)) for n, p in doc["losses"])
        return cls(losses=losses, **{k: v for k, v in doc.items() if k != "losses"})


@dataclass
class LossStat:
    """One loss's sufficient statistics (sums as exact partials)."""

    total: _exact.Partials = field(default_factory=list)
    weights: _exact.Partials = field(default_factory=list)  # the mean's divisor
    samples: int = 0  # batchmean's divisor (input.shape[0] summed over chunks)
    class_totals: list[_exact.Partials] = field(default_factory=list)
    class_weights: list[_exact.Partials] = field(default_factory=list)
    class_counts: list[int] = field(default_factory=list)

    def merged(self, other: LossStat) -> LossStat:
        size = max(len(self.class_counts), len(other.class_counts))

        def pad(rows: list[Any], empty: Any) -> list[Any]:
            return rows + [empty() for _ in range(size - len(rows))]

        return LossStat(
            total=_exact.merged(self.total, other.total),
            weights=_exact.merged(self.weights, other.weights),
            samples=self.samples + other.samples,
            class_totals=[
                _exact.merged(a, b)
                for a, b in zip(pad(self.class_totals, list), pad(other.class_totals, list), strict=True)
            ],
            class_weights=[
                _exact.merged(a, b)
                for a, b in zip(pad(self.class_weights, list), pad(other.class_weights, list), strict=True)
            ],
            class_counts=[
                a + b for a, b in zip(pad(self.class_counts, int), pad(other.class_counts, int), strict=True)
            ],
        )


class ScoreState:
    """The mergeable state of a score over many chunks (see the module docstring)."""

    def __init__(self, spec: ScoreSpec) -> None:
        self.spec = spec
        self.elements = 0
        self.chunks = 0
        self.clamped = 0
        self.normalizer: _exact.Partials = []
        self.normalizer_given = False
        self.stats = [LossStat() for _ in spec.losses]
        self.anatomy = AnatomyBins() if spec.anatomy else None
        self.calibration = Calibration(spec.calibration_bins) if spec.calibration_bins else None

    # -- update -------------------------------------------------------------------------------------------
    def update(
        self,
        input: Any,
        target: Any = None,
        *,
        normalizer: float | None = None,
        per_sample: list[np.ndarray[Any, Any]] | None = None,
    ) -> ScoreState:
        """Add one chunk (in place; returns ``self``). Raises `LossInputError` for bad input, naming it.

        ``per_sample``: a list that receives each loss's per-sample values of the chunk (reduction
        ``none``), in spec order, for a caller that writes them out (they are computed anyway)."""
        spec = self.spec
        x = np.asarray(as_numpy(input))
        y = None if target is None else np.asarray(as_numpy(target))
        common = {"kind": spec.kind, "from_logits": spec.from_logits}
        computed = []
        for name, params in spec.losses:
            fn = get_loss(name)
            opts = {k: v for k, v in params.items() if k not in ("reduction", "normalizer")}
            if name not in _NO_TARGET and y is None:
                raise LossInputError("target", f"loss {name} needs labels")
            args = (x,) if name in _NO_TARGET else (x, y)
            values = np.asarray(as_numpy(fn(*args, **common, **opts, reduction="none")), dtype=np.float64)
            weights = mean_weights(
                spec.kind,
                x,
                None if name in _NO_TARGET else y,
                opts.get("weight"),
                int(opts.get("ignore_index", -100)),
            )
            computed.append((values, weights))
        classes, num_classes = self._classes(x, y) if spec.per_class else (None, 0)
        if num_classes > MAX_CLASSES:
            raise LossInputError("per_class", f"at most {MAX_CLASSES} classes, the input has {num_classes}")
        if per_sample is not None:
            per_sample.extend(values for values, _ in computed)
        for (values, weights), stat in zip(computed, self.stats, strict=True):
            _exact.add(stat.total, _exact.array_sum(values))
            _exact.add(stat.weights, _exact.array_sum(weights))
            stat.samples += int(x.shape[0]) if x.ndim > 0 else 1
            if classes is not None:
                self._add_classes(stat, classes, num_classes, values, weights)
        if self.anatomy is not None:
            params = spec.losses[0][1]
            self.anatomy.update(x, y, computed[0][0], spec.from_logits, int(params.get("ignore_index", -100)))
        if self.calibration is not None:
            ignore = int(spec.losses[0][1].get("ignore_index", -100))
            self.calibration.update(x, y, spec.kind, spec.from_logits, ignore)
        if normalizer is not None:
            _exact.add(self.normalizer, float(normalizer))
            self.normalizer_given = True
        if not spec.from_logits:
            self.clamped += clamped_count(x, from_logits=False)
        self.elements += int(x.size)
        self.chunks += 1
        return self

    def _classes(self, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any] | None) -> tuple[Any, int]:
        """The class of each per-sample value: the last axis (binary/multilabel), or the target class."""
        if self.spec.kind == "binary":
            if x.ndim == 0:
                return np.zeros((), dtype=np.int64), 1
            return np.broadcast_to(np.arange(x.shape[-1]), x.shape), int(x.shape[-1])
        num_classes = int(x.shape[-1])
        if y is None:
            return np.argmax(x, axis=-1), num_classes
        if y.shape == x.shape:
            return np.argmax(y, axis=-1), num_classes
        ignore = int(self.spec.losses[0][1].get("ignore_index", -100))
        return np.where(y == ignore, num_classes, y).astype(np.int64), num_classes  # ignored: class C

    @staticmethod
    def _add_classes(stat: LossStat, classes: Any, size: int, values: Any, weights: Any) -> None:
        keys = np.asarray(classes).reshape(-1)
        counted = np.asarray(weights).reshape(-1) > 0
        while len(stat.class_counts) < size:
            stat.class_totals.append([])
            stat.class_weights.append([])
            stat.class_counts.append(0)
        sums = _exact.segment_sums(keys, values, size)
        wsums = _exact.segment_sums(keys, weights, size)
        counts = np.bincount(keys[counted], minlength=size + 1)[:size]
        for c in range(size):
            _exact.add(stat.class_totals[c], sums[c])
            _exact.add(stat.class_weights[c], wsums[c])
            stat.class_counts[c] += int(counts[c])

    # -- merge ---------------------------------------------------------------------------------------------
    def merge(self, other: ScoreState) -> ScoreState:
        """A new state holding both (neither is changed); the specs must be equal."""
        if other.spec != self.spec:
            raise LossInputError("state", "cannot merge states of different score options")
        out = ScoreState(self.spec)
        out.elements = self.elements + other.elements
        out.chunks = self.chunks + other.chunks
        out.clamped = self.clamped + other.clamped
        out.normalizer = _exact.merged(self.normalizer, other.normalizer)
        out.normalizer_given = self.normalizer_given or other.normalizer_given
        out.stats = [a.merged(b) for a, b in zip(self.stats, other.stats, strict=True)]
        if self.anatomy is not None and other.anatomy is not None:
            out.anatomy = self.anatomy.merged(other.anatomy)
        if self.calibration is not None and other.calibration is not None:
            out.calibration = self.calibration.merged(other.calibration)
        return out

    # -- result --------------------------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        """The summary: ``losses`` (name, reduction, value), ``elements``, ``chunks``, ``clamped_count``, and
        where asked ``per_class``, ``anatomy``, ``calibration``. A mean over nothing counted is None."""
        out: dict[str, Any] = {
            "losses": [
                {"name": name, "reduction": params["reduction"], "value": self._value(params, stat)}
                for (name, params), stat in zip(self.spec.losses, self.stats, strict=True)
            ],
            "clamped_count": self.clamped,
            "elements": self.elements,
            "chunks": self.chunks,
        }
        if self.spec.per_class:
            out["per_class"] = self._per_class()
        if self.anatomy is not None:
            out["anatomy"] = self.anatomy.result(self.spec.losses[0][0])
        if self.calibration is not None:
            out["calibration"] = self.calibration.result()
        return out

    def _value(self, params: Mapping[str, Any], stat: LossStat) -> float | None:
        total = _exact.value(stat.total)
        reduction = params["reduction"]
        if reduction == "mean":
            weights = _exact.value(stat.weights)
            return total / weights if weights > 0 else None
        if reduction == "batchmean":
            return total / stat.samples if stat.samples else None
        if params.get("normalizer") is not None:
            return total / max(1.0, float(params["normalizer"]))
        if self.normalizer_given:
            return total / max(1.0, _exact.value(self.normalizer))
        return total

    def _per_class(self) -> list[dict[str, Any]]:
        size = max((len(s.class_counts) for s in self.stats), default=0)
        rows = []
        for c in range(size):
            entry: list[dict[str, Any]] = []
            for (name, _), stat in zip(self.spec.losses, self.stats, strict=True):
                total = _exact.value(stat.class_totals[c]) if c < len(stat.class_totals) else 0.0
                weights = _exact.value(stat.class_weights[c]) if c < len(stat.class_weights) else 0.0
                entry.append({"name": name, "sum": total, "mean": total / weights if weights > 0 else None})
            count = self.stats[0].class_counts[c] if c < len(self.stats[0].class_counts) else 0
            rows.append({"class": c, "count": count, "losses": entry})
        return rows

    # -- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict from which `from_dict` rebuilds the same state (floats round-trip exactly)."""
        return {
            "version": _VERSION,
            "spec": self.spec.to_dict(),
            "elements": self.elements,
            "chunks": self.chunks,
            "clamped": self.clamped,
            "normalizer": self.normalizer,
            "normalizer_given": self.normalizer_given,
            "stats": [vars(s) for s in self.stats],
            "anatomy": None if self.anatomy is None else self.anatomy.to_dict(),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ScoreState:
        if doc.get("version") != _VERSION:
            raise LossInputError("state", f"unknown state version {doc.get('version')!r}")
        out = cls(ScoreSpec.from_dict(doc["spec"]))
        out.elements, out.chunks, out.clamped = int(doc["elements"]), int(doc["chunks"]), int(doc["clamped"])
        out.normalizer = [float(v) for v in doc["normalizer"]]
        out.normalizer_given = bool(doc["normalizer_given"])
        out.stats = [LossStat(**s) for s in doc["stats"]]
        if doc["anatomy"] is not None:
            out.anatomy = AnatomyBins.from_dict(doc["anatomy"])
        if doc["calibration"] is not None:
            out.calibration = Calibration.from_dict(doc["calibration"])
        return out

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ScoreState:
        return cls.from_dict(json.loads(raw))
