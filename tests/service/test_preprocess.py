"""Preprocessing (pure): decoding errors, colour conversions, letterbox math, box mapping, and parity with the
training side's recipe (model_export.preprocess follows the same document)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from service.core.preprocess import InputSpec, boxes_to_image, decode_image, letterbox, prepare_image, to_rgb
from service.errors import InvalidInput, PayloadTooLarge

SPEC = InputSpec("images", 64, 64, 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 0.0)


def encode(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` (a decompression bomb's header) with a tiny, invalid body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def test_letterbox_scale_size_and_padding() -> None:
    rgb = np.full((50, 200, 3), 255, np.uint8)  # wide image: s = min(64/200, 64/50) = 0.32
    tensor, s = letterbox(rgb, SPEC)
    assert tensor.shape == (3, 64, 64) and tensor.dtype == np.float32
    assert s == pytest.approx(0.32)
    # resized to 64 x 16 at the top-left; the rest is pad 0 normalised: (0 - mean) / std
    white = (1.0 - np.array(SPEC.mean)) / np.array(SPEC.std)
    pad = (0.0 - np.array(SPEC.mean)) / np.array(SPEC.std)
    np.testing.assert_allclose(tensor[:, :16, :].reshape(3, -1).mean(axis=1), white, rtol=1e-5)
    np.testing.assert_allclose(tensor[:, 16:, :].reshape(3, -1).max(axis=1), pad, rtol=1e-5)


def test_letterbox_of_a_model_sized_image_is_only_normalised() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    tensor, s = letterbox(rgb, SPEC)
    assert s == 1.0
    expected = (rgb / 255.0 - np.array(SPEC.mean)) / np.array(SPEC.std)
    np.testing.assert_allclose(tensor, expected.transpose(2, 0, 1), rtol=1e-6, atol=1e-6)


def test_boxes_map_back_and_clip() -> None:
    boxes = np.array([[6.4, 3.2, 32.0, 16.0], [60.0, 10.0, 70.0, 20.0]])
    out = boxes_to_image(boxes, 0.32, 200, 50)
    np.testing.assert_allclose(out[0], [20.0, 10.0, 100.0, 50.0])
    np.testing.assert_allclose(out[1], [187.5, 31.25, 200.0, 50.0])  # x2 clipped to the width


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 100, (100, 100, 100)),
        ("RGBA", (200, 100, 50, 128), (100, 50, 25)),  # composited on black
        ("LA", (200, 0), (0, 0, 0)),  # fully transparent -> black
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 257 * 10, (10, 10, 10)),
        ("1", 1, (255, 255, 255)),
    ],
)
def test_colour_conversions(mode: str, value: object, expected: tuple[int, int, int]) -> None:
    image = Image.new(mode, (4, 3), value)  # type: ignore[arg-type]
    rgb = to_rgb(image)
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    np.testing.assert_allclose(rgb[0, 0], expected, atol=1)


def test_palette_with_transparency_is_composited() -> None:
    image = Image.new("P", (2, 2), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 1
    assert to_rgb(image)[0, 0].tolist() == [0, 0, 0]


def test_sixteen_bit_png_round_trip_decodes() -> None:
    grey16 = Image.fromarray(np.full((8, 8), 40000, np.uint16))
    rgb = to_rgb(decode_image(encode(grey16), max_pixels=10_000))
    assert rgb[0, 0].tolist() == [156, 156, 156]  # 40000 / 257 = 155.6 -> 156


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_formats_decode(fmt: str) -> None:
    prepared = prepare_image(encode(Image.new("RGB", (32, 16), (255, 0, 0)), fmt), SPEC, max_pixels=10_000)
    assert (prepared.width, prepared.height, prepared.scale) == (32, 16, 2.0)


def test_decoding_errors_name_the_field() -> None:
    with pytest.raises(InvalidInput, match="empty") as err:
        decode_image(b"", max_pixels=10, field="files[0]")
    assert err.value.field == "files[0]"
    with pytest.raises(InvalidInput, match="not an image"):
        decode_image(b"hello, world", max_pixels=10)
    truncated = encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")[:200]
    with pytest.raises(InvalidInput, match="truncated"):
        decode_image(truncated, max_pixels=100_000)


def test_pixel_limit_is_checked_from_the_header() -> None:
    with pytest.raises(PayloadTooLarge, match="more than the limit of 1000 pixels"):
        decode_image(encode(Image.new("RGB", (40, 40))), max_pixels=1000)
    with pytest.raises(PayloadTooLarge):  # 30000 x 30000 claimed: refused before any decoding
        decode_image(png_header_only(30_000, 30_000), max_pixels=10**12)


@pytest.mark.slow  # the first one imports model_export (torch)
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "I;16", "CMYK", "P"])
@pytest.mark.parametrize("size", [(200, 50), (37, 91), (64, 64)])
def test_same_tensor_as_the_training_recipe(mode: str, size: tuple[int, int]) -> None:
    me = pytest.importorskip("model_export.preprocess")
    rng = np.random.default_rng(1)
    base = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (size[1], size[0]), dtype=np.uint16))
    elif mode == "RGBA":
        image = base.convert("RGBA")
        image.putalpha(Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)))
    else:
        image = base.convert(mode)
    theirs, s_theirs = me.preprocess(image, me.InputSpec(height=64, width=64))
    ours, s_ours = letterbox(to_rgb(image), SPEC)
    assert s_ours == s_theirs
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("pad", [0.0, 114.0, 0.5])
def test_table_and_formula_paths_agree(pad: float) -> None:
    spec = InputSpec("images", 40, 30, 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), pad)
    rgb = np.random.default_rng(2).integers(0, 256, (17, 50, 3), dtype=np.uint8)
    tensor, s = letterbox(rgb, spec)
    canvas = np.full((40, 30, 3), pad)
    resized = np.asarray(Image.fromarray(rgb).resize((30, 10), Image.Resampling.BILINEAR))
    canvas[:10, :30] = resized
    expected = (
        ((canvas / 255 - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1).astype(np.float32)
    )
    assert s == pytest.approx(30 / 50)
    np.testing.assert_array_equal(tensor, expected)
