"""Arrays from raw bytes, and the element limit: the one decoder every body form and edge uses.

A raw array is ``count * itemsize`` bytes, row-major (or column-major where a ``.npy`` header says so),
little-endian. The element limit answers 413 / ``RESOURCE_EXHAUSTED`` (`PayloadTooLarge`) on every path: the
request is well formed but larger than this server is set to take, which is what 413 means, and a client
should split it rather than fix it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInput, PayloadTooLarge

__all__ = ["array_from_bytes", "check_elements", "check_shape"]


def check_shape(shape: Sequence[Any], field: str) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative integers, or `InvalidInput` naming ``field``."""
    dims = tuple(shape)
    if any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in dims):
        raise InvalidInput(f"shape must be non-negative integers, got {list(dims)}", field=field)
    return dims


def check_elements(count: int, field: str, max_elements: int) -> None:
    """Refuse more than ``max_elements`` elements (`PayloadTooLarge`, naming ``field``)."""
    if count > max_elements:
        raise PayloadTooLarge(f"has {count} elements, more than the limit of {max_elements}", field=field)


def array_from_bytes(
    raw: bytes | memoryview,
    dtype: np.dtype[Any],
    shape: Sequence[Any],
    field: str,
    *,
    max_elements: int | None = None,
    fortran_order: bool = False,
    type_name: str | None = None,
) -> npt.NDArray[Any]:
    """A read-only array viewing ``raw`` (no copy); shape, element limit and byte count checked first.

    ``type_name`` is how errors name the element type (default: the numpy name; the protocol's ``FP32``).

    Raises:
        InvalidInput: a bad shape, or a byte count that does not match ``shape`` and ``dtype``.
        PayloadTooLarge: more than ``max_elements`` elements.
    """
    dims = check_shape(shape, field)
    count = math.prod(dims)
    if max_elements is not None:
        check_elements(count, field, max_elements)
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            f"{len(raw)} bytes of data for shape {list(dims)} {type_name or dtype.name} "
            f"(expected {expected})",
            field=field,
        )
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    return flat.reshape(dims[::-1]).T if fortran_order else flat.reshape(dims)
