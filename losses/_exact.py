"""Sums that merge exactly: Shewchuk's non-overlapping partials (what ``math.fsum`` keeps inside).

A chunk's array is summed in float64 blocks of ``BLOCK`` elements (numpy's pairwise sum inside a block,
error at most ``log2(BLOCK)`` ulps of the block), and the block sums are added exactly with ``math.fsum``.
Chunk sums then go into a list of partials that represents their sum exactly, so adding chunks in any order,
or merging two lists, gives the same value: ``math.fsum(partials)`` is the correctly rounded total.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BLOCK = 256
Partials = list[float]


def add(partials: Partials, x: float) -> None:
    """Add ``x`` to ``partials`` in place, exactly (Shewchuk's grow-expansion, as ``math.fsum`` does)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def merged(a: Partials, b: Partials) -> Partials:
    """The partials of ``a + b`` (neither is changed)."""
    out = list(a)
    for x in b:
        add(out, x)
    return out


def value(partials: Partials) -> float:
    """The correctly rounded float64 value of the sum ``partials`` stand for."""
    return math.fsum(partials)


def array_sum(values: np.ndarray[Any, Any]) -> float:
    """The float64 sum of ``values``: exact block sums for large arrays, ``math.fsum`` for small ones."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size <= 4 * BLOCK:
        return math.fsum(v.tolist())
    whole = v.size // BLOCK * BLOCK
    blocks = v[:whole].reshape(-1, BLOCK).sum(axis=1)
    return math.fsum(np.concatenate([blocks, v[whole:]]).tolist())


def segment_sums(keys: np.ndarray[Any, Any], values: np.ndarray[Any, Any], size: int) -> list[float]:
    """``[array_sum(values[keys == k]) for k in range(size)]``, in one sort."""
    keys = np.asarray(keys).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(keys, kind="stable")
    ordered = values[order]
    ends = np.cumsum(np.bincount(keys, minlength=size)[:size])
    starts = np.concatenate([[0], ends[:-1]])
    return [array_sum(ordered[s:e]) if e > s else 0.0 for s, e in zip(starts, ends, strict=True)]
