"""Zero-copy reading of the large ``bytes`` fields of a request, straight from its wire form.

Parsing a protobuf message copies every ``bytes`` field, and reading the field copies it again: for a scoring
request with 8M float32 predictions that is 64 MB of memcpy before any arithmetic. `split_arrays` walks the
top-level fields of the serialized message instead, keeps the ``data`` of the ``focalserve.v1.Array`` fields
it is asked for as memoryviews into the received buffer, and lets protobuf parse only what remains (small).

The wire format (https://protobuf.dev/programming-guides/encoding/): each field is a varint key
``(number << 3) | wire_type`` followed by a varint (type 0), 8 bytes (1), a varint length and that many bytes
(2), or 4 bytes (5). An ``Array`` is ``dtype = 1`` (string), ``shape = 2`` (packed or unpacked varints),
``data = 3`` (bytes); when a field repeats, the last occurrence wins, as in protobuf.
"""

from __future__ import annotations

__all__ = ["WireError", "split_arrays"]

_ARRAY_DATA = 3


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: memoryview) -> list[tuple[int, int, int, int]]:
    """``(number, wire_type, start, end)`` of every field; ``start:end`` spans the field, key included."""
    out: list[tuple[int, int, int, int]] = []
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = _varint(buf, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            length, pos = _varint(buf, pos)
            pos += length
        elif wire_type == 5:
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type} (field {number})")
        if pos > len(buf) or number == 0:
            raise WireError(f"field {number} runs past the end of the message")
        out.append((number, wire_type, start, pos))
    return out


def _payload(buf: memoryview, start: int) -> memoryview:
    """The bytes of a length-delimited field that starts (key included) at ``start``."""
    _, pos = _varint(buf, start)
    length, pos = _varint(buf, pos)
    return buf[pos : pos + length]


def split_arrays(wire: bytes, array_fields: frozenset[int]) -> tuple[bytes, dict[int, memoryview]]:
    """Separate the ``data`` of top-level ``Array`` fields from the rest of a serialized message.

    Args:
        wire: the serialized message.
        array_fields: field numbers (of the top-level message) that hold a ``focalserve.v1.Array``.

    Returns:
        ``(rest, data)``: ``rest`` is the message without those arrays' ``data`` (parse it with protobuf);
        ``data`` maps each array field present to a zero-copy view of its data.

    Raises:
        WireError: malformed bytes.
    """
    buf = memoryview(wire)
    parts: list[bytes | memoryview] = []
    data: dict[int, memoryview] = {}
    for number, wire_type, start, end in _fields(buf):
        if number not in array_fields or wire_type != 2:
            parts.append(buf[start:end])
            continue
        inner = _payload(buf, start)
        kept: list[bytes | memoryview] = []
        for inner_number, inner_type, a, b in _fields(inner):
            if inner_number == _ARRAY_DATA and inner_type == 2:
                data[number] = _payload(inner, a)
            else:
                kept.append(inner[a:b])
        body = b"".join(kept)
        parts += (_encode_varint((number << 3) | 2), _encode_varint(len(body)), body)
    return b"".join(parts), data
