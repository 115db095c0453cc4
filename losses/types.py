"""Type aliases shared by the loss modules.

Arrays are numpy ``ndarray`` or ``torch.Tensor``; the library never imports torch to type them, so an array
is typed ``Any`` where both backends meet.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

Reduction: TypeAlias = Literal["none", "mean", "sum", "batchmean"]
Kind: TypeAlias = Literal["binary", "multiclass"]
Array: TypeAlias = Any
"""A numpy ndarray or a torch.Tensor (the same type comes out as went in)."""
Scalar: TypeAlias = float | int

REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum", "batchmean")
KINDS: tuple[str, ...] = ("binary", "multiclass")
