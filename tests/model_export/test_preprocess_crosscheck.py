"""The service's preprocessing copy and model_export's agree on every kind of image (the training inputs
and the served inputs are the same tensors)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model_export.preprocess import InputSpec, preprocess
from service.core import preprocess as service_pre


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(90, 150, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, rng.integers(0, 256, size=(90, 150, 1), dtype=np.uint8)], axis=2)
    return [
        Image.fromarray(rgb),
        Image.fromarray(rgba, mode="RGBA"),
        Image.fromarray(rgb[..., 0]),  # L
        Image.fromarray(rgb).convert("P"),
        Image.fromarray(rgb).convert("CMYK"),
        Image.fromarray(rng.integers(0, 65536, size=(60, 40), dtype=np.uint16)),  # I;16
        Image.fromarray(rgb[:40, : 300 // 3]).resize((300, 40)),  # wide
        Image.fromarray(rgb[:1, :1]),  # one pixel
        Image.fromarray(rgb).resize((128, 128)),  # already the input size
    ]


@pytest.mark.parametrize("index", range(len(_images())))
def test_service_and_model_export_preprocess_identically(index: int) -> None:
    image = _images()[index]
    spec = InputSpec()
    ours, s = preprocess(image, spec)
    sspec = service_pre.InputSpec(
        name=spec.name, height=spec.height, width=spec.width, scale=spec.scale, mean=spec.mean, std=spec.std,
        pad_value=float(spec.pad_value),
    )  # fmt: skip
    theirs, s2 = service_pre.letterbox(service_pre.to_rgb(image), sspec)
    assert s == s2
    assert theirs.dtype == ours.dtype and theirs.shape == ours.shape
    np.testing.assert_array_equal(theirs, ours)
