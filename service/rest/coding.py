"""HTTP content coding of request and response bodies: ``gzip`` and ``deflate`` (a zlib stream; a raw deflate
stream is accepted too), with the decompressed size bounded (zip bombs)."""

from __future__ import annotations

import gzip
import zlib

from ..errors import InvalidInput

__all__ = ["choose_encoding", "decode_body", "encode_body"]


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
    if decoder.unused_data:
        # a second gzip member or trailing junk: refused rather than silently cut or joined
        raise InvalidInput(
            f"Content-Encoding: {len(decoder.unused_data)} bytes follow the end of the {coding} stream",
            field="Content-Encoding",
        )
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
