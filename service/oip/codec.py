"""Open Inference Protocol tensors: their JSON and raw forms to and from numpy.

Pure functions (no I/O, no transport), shared by the REST infer route and the gRPC ModelInfer servicer.
Datatype names are looked up in `service.core.datatypes`; numeric raw data is decoded by
`service.core.arrays.array_from_bytes`.

- Raw form (gRPC ``raw_input_contents`` and the REST binary extension): row-major, little-endian; a ``BYTES``
  element is a 4-byte little-endian length followed by its bytes.
- JSON form: ``data`` is a flat row-major list or nested lists of the tensor's shape; ``BYTES`` elements are
  strings (UTF-8).

Every malformed input raises `service.errors.InvalidInput` naming the offending field.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.arrays import array_from_bytes, check_shape
from ..core.datatypes import datatype_of, dtype_of
from ..errors import InvalidInput

__all__ = [
    "bytes_from_raw",
    "bytes_to_raw",
    "tensor_from_json",
    "tensor_from_raw",
    "tensor_to_json",
    "tensor_to_raw",
]

_LEN = struct.Struct("<I")


def bytes_to_raw(values: Iterable[object]) -> bytes:
    """Serialise ``BYTES`` elements: each a 4-byte little-endian length then its bytes (``str`` as UTF-8)."""
    parts: list[bytes] = []
    for value in values:
        item = value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[call-overload]
        parts += (_LEN.pack(len(item)), item)
    return b"".join(parts)


def bytes_from_raw(raw: bytes | memoryview, count: int, field: str) -> npt.NDArray[np.object_]:
    """Parse ``count`` length-prefixed ``BYTES`` elements that must span ``raw`` exactly.

    Each element takes at least its 4-byte length, so a ``count`` the data cannot hold is refused before
    anything is allocated for it (a small body cannot declare a huge shape).
    """
    view = memoryview(raw)
    if 4 * count > len(view):
        raise InvalidInput(
            f"{count} BYTES elements need at least {4 * count} bytes, the data has {len(view)}", field=field
        )
    out = np.empty(count, dtype=object)
    pos = 0
    for i in range(count):
        if pos + 4 > len(view):
            raise InvalidInput(f"{field}: BYTES data ends inside element {i} of {count}", field=field)
        (size,) = _LEN.unpack_from(view, pos)
        pos += 4
        if pos + size > len(view):
            raise InvalidInput(
                f"{field}: BYTES element {i} claims {size} bytes past the data's end", field=field
            )
        out[i] = bytes(view[pos : pos + size])
        pos += size
    if pos != len(view):
        raise InvalidInput(f"{field}: {len(view) - pos} bytes left after {count} BYTES elements", field=field)
    return out


def tensor_from_raw(
    raw: bytes | memoryview, datatype: str, shape: Sequence[int], field: str
) -> npt.NDArray[Any]:
    """A tensor from its raw bytes; the byte count must match ``shape`` exactly. Zero-copy for numbers."""
    dims = check_shape(shape, field)
    dtype = dtype_of(datatype, field)
    if datatype == "BYTES":
        return bytes_from_raw(raw, math.prod(dims), field).reshape(dims)
    return array_from_bytes(raw, dtype, dims, field, type_name=datatype)


def tensor_to_raw(array: npt.NDArray[Any]) -> bytes:
    """The raw bytes of a tensor (row-major, little-endian; ``BYTES`` length-prefixed)."""
    if datatype_of(array.dtype) == "BYTES":
        return bytes_to_raw(array.reshape(-1).tolist())
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _flatten(data: object, field: str) -> list[object]:
    if not isinstance(data, list):
        return [data]
    if all(not isinstance(x, list) for x in data):
        return data
    flat: list[object] = []
    for row in data:
        if not isinstance(row, list):
            raise InvalidInput(f"{field}: nested data mixes lists and scalars", field=field)
        flat += _flatten(row, field)
    return flat


def tensor_from_json(
    data: object, datatype: str, shape: Sequence[int], field: str, *, check_bools: bool = True
) -> npt.NDArray[Any]:
    """A tensor from JSON ``data`` (flat row-major or nested); the element count must match ``shape``.

    Numbers are checked by numpy over the whole array, not one by one: rectangular, numeric (``true`` /
    ``false`` only for ``BOOL``), integral and within range for integer datatypes. ``check_bools=False``
    skips the search for ``true`` / ``false`` among numbers, for a caller that knows the document has none.
    """
    dims = check_shape(shape, field)
    dtype = dtype_of(datatype, field)
    count = math.prod(dims)
    if datatype == "BYTES":
        return _bytes_from_json(data, dims, field)
    try:
        array = np.array(data if isinstance(data, list) else [data])
    except (ValueError, TypeError):
        raise InvalidInput(
            f"{field}: nested data mixes lists and scalars, or rows of different lengths", field=field
        ) from None
    if array.size != count:
        raise InvalidInput(
            f"{field}: {array.size} elements for shape {list(dims)} (expected {count})", field=field
        )
    if count == 0:
        return np.zeros(dims, dtype=dtype)
    kind = array.dtype.kind
    if datatype == "BOOL":
        if kind != "b":
            raise InvalidInput(f"{field}: BOOL data must be true/false", field=field)
        return array.reshape(dims)
    if kind not in "iuf" or (check_bools and _holds_bools(data)):
        raise InvalidInput(f"{field}: {datatype} data must be numbers", field=field)
    if dtype.kind in "iu":
        if kind == "f" and not np.array_equal(array, np.floor(array)):
            raise InvalidInput(f"{field}: {datatype} data must be integers", field=field)
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(f"{field}: a value is out of range for {datatype}", field=field)
        return array.astype(dtype).reshape(dims)
    with np.errstate(over="ignore"):
        out = array.astype(dtype)
    if not np.isfinite(out).all() and (np.isinf(out) & np.isfinite(array)).any():
        raise InvalidInput(f"{field}: a value is out of range for {datatype}", field=field)
    return out.reshape(dims)


def _holds_bools(data: object) -> bool:
    """Whether JSON ``true`` / ``false`` stand among the numbers (numpy would read them as 1 / 0)."""
    if not isinstance(data, list):
        return isinstance(data, bool)
    if data and isinstance(data[0], list):
        return any(_holds_bools(row) for row in data)
    return bool in set(map(type, data))


def _bytes_from_json(data: object, dims: tuple[int, ...], field: str) -> npt.NDArray[Any]:
    flat = _flatten(data, field)
    if len(flat) != math.prod(dims):
        raise InvalidInput(
            f"{field}: {len(flat)} elements for shape {list(dims)} (expected {math.prod(dims)})", field=field
        )
    if not all(isinstance(x, str | bytes) for x in flat):
        raise InvalidInput(f"{field}: BYTES data must be strings", field=field)
    out = np.empty(len(flat), dtype=object)
    out[:] = [x.encode() if isinstance(x, str) else x for x in flat]
    return out.reshape(dims)


def tensor_to_json(array: npt.NDArray[Any]) -> list[Any]:
    """JSON ``data`` of a tensor: a flat row-major list (``BYTES`` as UTF-8 text, latin-1 if not UTF-8)."""
    flat = array.reshape(-1)
    if datatype_of(array.dtype) == "BYTES":
        return [_text(x) for x in flat.tolist()]
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        return [x if math.isfinite(x) else str(x) for x in flat.astype(np.float64).tolist()]
    return flat.tolist()  # type: ignore[no-any-return]


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raw: bytes = bytes(value)  # type: ignore[call-overload]
    try:
        text: str = raw.decode()
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text
