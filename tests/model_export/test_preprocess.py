"""The numpy preprocessing against the recipe written in docs/model_repository.md."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model_export.preprocess import InputSpec, letterbox, preprocess, to_rgb

SPEC = InputSpec()


def _doc_recipe(img: Image.Image, spec: InputSpec) -> tuple[np.ndarray, float]:
    """The document's formulas, written out independently."""
    w, h = img.size
    s = min(spec.width / w, spec.height / h)
    nw, nh = int(np.floor(w * s + 0.5)), int(np.floor(h * s + 0.5))
    canvas = np.full((spec.height, spec.width, 3), float(spec.pad_value))
    canvas[:nh, :nw] = np.asarray(img.convert("RGB").resize((nw, nh), Image.Resampling.BILINEAR), dtype=float)
    out = (canvas * spec.scale - np.array(spec.mean)) / np.array(spec.std)
    return out.transpose(2, 0, 1), s


@pytest.mark.parametrize("size", [(200, 100), (64, 96), (128, 128), (300, 301)])
def test_preprocess_matches_the_documented_recipe(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    got, s = preprocess(img, SPEC)
    want, s_want = _doc_recipe(img, SPEC)
    assert s == s_want
    assert got.dtype == np.float32 and got.shape == (3, SPEC.height, SPEC.width)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_letterbox_places_at_top_left_and_pads() -> None:
    img = Image.new("RGB", (256, 128), (255, 255, 255))
    canvas, s = letterbox(img, SPEC)
    assert s == 0.5
    assert (canvas[:64] == 255).all() and (canvas[64:] == SPEC.pad_value).all()
    x, _ = preprocess(img, SPEC)
    pad = (0 * SPEC.scale - np.array(SPEC.mean)) / np.array(SPEC.std)
    np.testing.assert_allclose(x[:, -1, -1], pad, rtol=1e-6)


def test_alpha_is_composited_on_black_and_grey_becomes_rgb() -> None:
    rgba = Image.new("RGBA", (4, 4), (200, 100, 50, 0))  # fully transparent -> black
    assert np.asarray(to_rgb(rgba)).max() == 0
    half = Image.new("RGBA", (4, 4), (200, 100, 50, 255))
    assert tuple(np.asarray(to_rgb(half))[0, 0]) == (200, 100, 50)
    grey = Image.new("L", (4, 4), 77)
    assert tuple(np.asarray(to_rgb(grey))[0, 0]) == (77, 77, 77)
    deep = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert tuple(np.asarray(to_rgb(deep))[0, 0]) == (255, 255, 255)


def test_input_spec_metadata_keys() -> None:
    meta = SPEC.to_metadata()
    assert set(meta) == {
        "name", "layout", "dtype", "height", "width", "color", "resize", "pad_value", "scale", "mean", "std",
    }  # fmt: skip
    assert meta["mean"] == [0.485, 0.456, 0.406] and meta["resize"] == "letterbox"
