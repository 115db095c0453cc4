"""Open Inference Protocol tensor codec: datatypes, JSON tensors, raw bytes, the binary tensor data extension.

Pure functions (no I/O, no web framework), shared by the REST infer route and the gRPC ModelInfer servicer.

- Datatypes: the protocol names (``FP32``, ``INT64``, ``BYTES``, ...) map to numpy dtypes; ``BYTES`` tensors
  are numpy ``object`` arrays of ``bytes``.
- Raw form (gRPC ``raw_input_contents`` and the REST binary extension): row-major, little-endian; a ``BYTES``
  element is a 4-byte little-endian length followed by its bytes.
- JSON form: ``data`` is a flat row-major list or nested lists of the tensor's shape; ``BYTES`` elements are
  strings (UTF-8).
- Binary tensor data extension (REST): the body is a JSON header of ``Inference-Header-Content-Length`` bytes
  followed by the binary tensors in the order of the inputs (outputs) that carry ``binary_data_size``.
- Content coding: ``gzip`` and ``deflate`` (zlib stream; a raw deflate stream is accepted too) for request and
  response bodies.

Every malformed input raises :class:`service.errors.InvalidInput` naming the offending field.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from service.errors import InvalidInput

__all__ = [
    "DATATYPES",
    "bytes_from_raw",
    "bytes_to_raw",
    "choose_encoding",
    "datatype_of",
    "decode_body",
    "dtype_of",
    "encode_body",
    "join_binary_body",
    "split_binary_body",
    "tensor_from_json",
    "tensor_from_raw",
    "tensor_to_json",
    "tensor_to_raw",
]

#: Protocol datatype -> numpy dtype (``BYTES``: object arrays of ``bytes``).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_BY_KIND = {(dt.kind, dt.itemsize): name for name, dt in DATATYPES.items() if name != "BYTES"}
_LEN = struct.Struct("<I")


def dtype_of(datatype: str, field: str = "datatype") -> np.dtype[Any]:
    """The numpy dtype of a protocol datatype name; unknown names are an input error naming ``field``."""
    try:
        return DATATYPES[datatype]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"{field}: unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}", field=field
        ) from None


def datatype_of(dtype: npt.DTypeLike) -> str:
    """The protocol datatype name of a numpy dtype (``object``/``bytes``/``str`` arrays are ``BYTES``)."""
    dt = np.dtype(dtype)
    if dt.kind in "OSU":
        return "BYTES"
    name = _BY_KIND.get((dt.kind, dt.itemsize))
    if name is None:
        raise TypeError(f"no Open Inference Protocol datatype for numpy dtype {dt}")
    return name


def _check_shape(shape: Sequence[int], field: str) -> tuple[int, ...]:
    dims = tuple(shape)
    if any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in dims):
        raise InvalidInput(f"{field}: shape must be non-negative integers, got {list(dims)}", field=field)
    return dims


def bytes_to_raw(values: Iterable[object]) -> bytes:
    """Serialise ``BYTES`` elements: each a 4-byte little-endian length then its bytes (``str`` as UTF-8)."""
    parts: list[bytes] = []
    for value in values:
        item = value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[call-overload]
        parts += (_LEN.pack(len(item)), item)
    return b"".join(parts)


def bytes_from_raw(raw: bytes | memoryview, count: int, field: str) -> npt.NDArray[np.object_]:
    """Parse ``count`` length-prefixed ``BYTES`` elements that must span ``raw`` exactly."""
    out = np.empty(count, dtype=object)
    view = memoryview(raw)
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
    dims = _check_shape(shape, field)
    dtype = dtype_of(datatype, field)
    count = math.prod(dims)
    if datatype == "BYTES":
        return bytes_from_raw(raw, count, field).reshape(dims)
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            f"{field}: {len(raw)} bytes of data for shape {list(dims)} {datatype} (expected {expected})",
            field=field,
        )
    return np.frombuffer(raw, dtype=dtype).reshape(dims)


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


def tensor_from_json(data: object, datatype: str, shape: Sequence[int], field: str) -> npt.NDArray[Any]:
    """A tensor from JSON ``data`` (flat row-major or nested); the element count must match ``shape``."""
    dims = _check_shape(shape, field)
    dtype = dtype_of(datatype, field)
    flat = _flatten(data, field)
    if len(flat) != math.prod(dims):
        raise InvalidInput(
            f"{field}: {len(flat)} elements for shape {list(dims)} (expected {math.prod(dims)})", field=field
        )
    if datatype == "BYTES":
        if not all(isinstance(x, str | bytes) for x in flat):
            raise InvalidInput(f"{field}: BYTES data must be strings", field=field)
        out = np.empty(len(flat), dtype=object)
        out[:] = [x.encode() if isinstance(x, str) else x for x in flat]
        return out.reshape(dims)
    if datatype == "BOOL":
        if not all(isinstance(x, bool) for x in flat):
            raise InvalidInput(f"{field}: BOOL data must be true/false", field=field)
    elif any(isinstance(x, bool) or not isinstance(x, int | float) for x in flat):
        raise InvalidInput(f"{field}: {datatype} data must be numbers", field=field)
    elif dtype.kind in "iu" and any(isinstance(x, float) and not x.is_integer() for x in flat):
        raise InvalidInput(f"{field}: {datatype} data must be integers", field=field)
    try:
        return np.array(flat, dtype=dtype).reshape(dims)
    except OverflowError:
        raise InvalidInput(f"{field}: a value is out of range for {datatype}", field=field) from None


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


def split_binary_body(body: bytes, header_length: int | None) -> tuple[dict[str, Any], memoryview]:
    """Split a request body into its JSON header and the binary tail (a zero-copy view; empty without the
    extension)."""
    if header_length is None:
        head: bytes = body
        tail = memoryview(b"")
    else:
        if header_length < 0 or header_length > len(body):
            raise InvalidInput(
                f"Inference-Header-Content-Length: {header_length} is outside the body's {len(body)} bytes",
                field="Inference-Header-Content-Length",
            )
        view = memoryview(body)
        head, tail = view[:header_length].tobytes(), view[header_length:]  # the header is small
    try:
        header = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"body: the JSON header is not valid JSON ({exc})", field="body") from None
    if not isinstance(header, dict):
        raise InvalidInput("body: the JSON header must be an object", field="body")
    return header, tail


def join_binary_body(header: Mapping[str, Any], blobs: Sequence[bytes]) -> tuple[bytes, int | None]:
    """A response body: the JSON header, then each binary blob; returns ``(body, header_length or None)``."""
    head = json.dumps(header, separators=(",", ":")).encode()
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo ``gzip``/``deflate`` request coding, refusing output beyond ``limit`` bytes (zip bombs)."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding == "gzip":
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    elif coding == "deflate":
        decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS)
    else:
        raise InvalidInput(
            f"Content-Encoding: {content_encoding!r} is not supported (gzip, deflate, identity)",
            field="Content-Encoding",
        )
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(
            f"Content-Encoding: the {coding} body is corrupt ({exc})", field="Content-Encoding"
        ) from None
    if len(out) > limit:
        raise InvalidInput(
            f"Content-Encoding: the decompressed body exceeds {limit} bytes", field="Content-Encoding"
        )
    if not decoder.eof:
        raise InvalidInput(f"Content-Encoding: the {coding} body is truncated", field="Content-Encoding")
    return out


def choose_encoding(accept_encoding: str | None) -> str | None:
    """The response coding for an ``Accept-Encoding`` header: ``gzip``/``deflate`` by q-value, else None."""
    best: tuple[float, str] | None = None
    for item in (accept_encoding or "").split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if name not in ("gzip", "deflate"):
            continue
        q = 1.0
        key, _, value = params.strip().partition("=")
        if key.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q, name)
    return None if best is None else best[1]


def encode_body(body: bytes, coding: str | None) -> bytes:
    """Apply a response coding chosen by :func:`choose_encoding` (``deflate`` is a zlib stream)."""
    if coding == "gzip":
        return gzip.compress(body, compresslevel=1, mtime=0)
    if coding == "deflate":
        return zlib.compress(body, 1)
    return body
