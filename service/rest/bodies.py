"""Request bodies: media types, images (multipart / raw / JSON base64), arrays (npz / multipart npy)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from ..core.arrays import array_from_bytes
from ..core.detection import check_image_count
from ..errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "IMAGE_TYPES",
    "ImagesBody",
    "iter_npz",
    "load_npy",
    "load_npz",
    "media_type",
    "parse_json",
    "read_images",
]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


def media_type(request: Request) -> str:
    """The request's media type, lower case, without parameters ('' if absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


#: How deep a JSON document may nest (orjson's own limit): deeper is a 400 naming it, never a recursion error.
MAX_JSON_DEPTH = 1024


def parse_json(raw: bytes | str, *, field_name: str = "body") -> Any:
    """Parse a JSON body with orjson; raise `InvalidInput` naming ``field_name`` on malformed JSON.

    orjson refuses the ``NaN`` / ``Infinity`` literals: the stdlib parser reads those, so that such values
    reach the value checks and get a precise error. Nesting beyond `MAX_JSON_DEPTH` levels is refused.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit"):
            raise _too_deep(field_name) from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise _too_deep(field_name) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not valid JSON: {exc}", field=field_name) from None


def _too_deep(field_name: str) -> InvalidInput:
    return InvalidInput(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels", field=field_name)


@dataclass
class ImagesBody:
    """Encoded images of a detect request, plus options found in the body (form fields or JSON members)."""

    images: list[bytes]
    names: list[str]
    options: dict[str, Any] = field(default_factory=dict)


async def read_images(request: Request, *, max_images: int) -> ImagesBody:
    """Read the images of a detect request in any of the three accepted forms.

    * ``multipart/form-data``: every file part is an image; other parts are options;
    * ``image/jpeg``, ``image/png``, ``image/webp``: the body is one image;
    * ``application/json``: ``{"images": ["<base64>", ...], ...options}``.

    At most ``max_images`` images, counted before any is decoded (base64 included).

    Raises:
        UnsupportedMediaType: any other Content-Type.
        InvalidInput: no image, bad base64, malformed JSON.
        PayloadTooLarge: more than ``max_images`` images.
    """
    kind = media_type(request)
    if kind == "multipart/form-data":
        try:
            # one file more than the limit, so that too many files get the limit's own answer
            form = await request.form(max_files=max_images + 1, max_fields=64)
        except StarletteHTTPException as exc:
            if "files" in str(exc.detail):
                check_image_count(max_images + 1, max_images)
            raise
        try:
            images, names, options = [], [], {}
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    images.append(await value.read())
                    names.append(f"{key}[{len(images) - 1}]" if key else f"files[{len(images) - 1}]")
                else:
                    options[key] = value
        finally:
            await form.close()
        if not images:
            raise InvalidInput("the multipart body has no file part", field="files")
        check_image_count(len(images), max_images)
        return ImagesBody(images, names, options)
    if kind in IMAGE_TYPES:
        return ImagesBody([await request.body()], ["body"])
    if kind == "application/json":
        doc = parse_json(await request.body())
        if not isinstance(doc, dict) or "images" not in doc:
            raise InvalidInput('the JSON body needs an "images" list of base64 strings', field="images")
        encoded = doc.pop("images")
        if not isinstance(encoded, list) or not encoded:
            raise InvalidInput('"images" must be a non-empty list of base64 strings', field="images")
        check_image_count(len(encoded), max_images)
        images = []
        for i, item in enumerate(encoded):
            if not isinstance(item, str):
                raise InvalidInput("must be a base64 string", field=f"images[{i}]")
            try:
                images.append(
                    base64.b64decode(
                        item.split(",", 1)[-1] if item.startswith("data:") else item, validate=True
                    )
                )
            except (binascii.Error, ValueError):
                raise InvalidInput("is not valid base64", field=f"images[{i}]") from None
        return ImagesBody(images, [f"images[{i}]" for i in range(len(images))], doc)
    raise UnsupportedMediaType(
        f"Content-Type {kind or '(none)'} is not accepted here; send multipart/form-data, "
        f"{', '.join(IMAGE_TYPES)} or application/json",
        field="Content-Type",
    )


def load_npy(raw: bytes | memoryview, *, field_name: str, max_elements: int) -> np.ndarray:
    """One ``.npy`` payload -> a read-only array viewing ``raw`` (no copy, no pickles).

    Raises:
        InvalidInput: not a .npy payload, object dtype, or fewer bytes than the header promises.
        PayloadTooLarge: more than ``max_elements`` elements.
    """
    view = memoryview(raw)
    try:
        header = io.BytesIO(view[: min(len(view), 65_536 + 16)])
        version = np.lib.format.read_magic(header)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(header)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(header)
    except (ValueError, OSError, SyntaxError, EOFError) as exc:
        raise InvalidInput(f"is not a valid .npy array: {exc}", field=field_name) from None
    if dtype.hasobject:
        raise InvalidInput("object arrays are not accepted", field=field_name)
    return array_from_bytes(
        view[header.tell() :], dtype, shape, field_name, max_elements=max_elements, fortran_order=fortran
    )


def load_npz(raw: bytes, *, names: tuple[str, ...], max_elements: int) -> dict[str, np.ndarray]:
    """An ``.npz`` payload -> the named arrays (no pickles; sizes checked before anything is inflated).

    Members stored without compression (``np.savez``) are viewed in place, without a copy; compressed ones
    (``np.savez_compressed``) are inflated once.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidInput(f"the body is not a valid .npz archive: {exc}", field="body") from None
    with archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        out = {}
        for name in names:
            if name not in members:
                raise InvalidInput(
                    f"the .npz archive has no array {name!r} (has {sorted(members)})", field=name
                )
            info = members[name]
            if info.file_size > 16 * max_elements + 65_536:
                raise PayloadTooLarge(f"array {name!r} is too large once uncompressed", field=name)
            try:
                data: bytes | memoryview
                if info.compress_type == zipfile.ZIP_STORED:
                    data = _stored_member(raw, info)
                else:
                    data = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise InvalidInput(f"could not read array {name!r}: {exc}", field=name) from None
            out[name] = load_npy(data, field_name=name, max_elements=max_elements)
        return out


class _Sink(io.RawIOBase):
    """A write-only, non-seekable file that keeps what is written until `drain` hands it on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


#: Bytes of array data written between two chunks of a streamed ``.npz`` answer.
NPZ_CHUNK_BYTES = 4 << 20


def iter_npz(arrays: dict[str, np.ndarray], chunk_bytes: int = NPZ_CHUNK_BYTES) -> Iterator[bytes]:
    """An ``.npz`` (what ``np.savez`` writes: a stored zip of ``.npy`` members) as a stream of chunks, so that
    a large answer is never held twice; ``np.load`` reads it back."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            contiguous = array if array.flags.c_contiguous else np.array(array, order="C")  # keeps 0-d
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(header, np.lib.format.header_data_from_array_1_0(contiguous))
            data = contiguous.reshape(-1).view(np.uint8).data  # a memoryview, no copy
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                member.write(header.getvalue())
                for start in range(0, len(data), chunk_bytes):
                    member.write(data[start : start + chunk_bytes])
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def _stored_member(raw: bytes, info: zipfile.ZipInfo) -> memoryview:
    """The bytes of an uncompressed zip member: a view into ``raw`` (the local header gives the offset)."""
    start = info.header_offset
    local = raw[start : start + 30]
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local file header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    begin = start + 30 + name_len + extra_len
    end = begin + info.compress_size
    if end > len(raw):
        raise zipfile.BadZipFile("truncated member")
    return memoryview(raw)[begin:end]
