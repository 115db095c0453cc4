"""Letterbox preprocessing, numpy + Pillow only: the exact recipe of docs/model_repository.md.

The service keeps its own copy of this recipe (it may not import model_export); both follow the document,
and a test checks this module against the document's formulas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["InputSpec", "letterbox", "preprocess", "to_rgb"]


@dataclass(frozen=True)
class InputSpec:
    """The `input` block of metadata.json: size, letterbox pad value and normalisation."""

    height: int = 128
    width: int = 128
    pad_value: int = 0
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    name: str = "images"
    layout: str = "NCHW"
    dtype: str = "float32"
    color: str = "RGB"
    resize: str = "letterbox"

    def to_metadata(self) -> dict[str, object]:
        """The dict written under `input` in metadata.json."""
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow image -> 8-bit RGB (alpha composited on black; L, P, CMYK, I;16 converted)."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16"):
        # 16-bit greyscale: 0..65535 -> 0..255 (divide by 257, round half up).
        arr16 = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.floor(arr16 / 257.0 + 0.5).astype(np.uint8), mode="L").convert("RGB")
    if image.mode in ("I", "F"):
        # 32-bit int / float greyscale: taken as 0..255 values, clipped.
        arr = np.clip(np.floor(np.asarray(image, dtype=np.float64) + 0.5), 0, 255)
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


def letterbox(image: Image.Image, spec: InputSpec) -> tuple[NDArray[np.uint8], float]:
    """Resize keeping the aspect ratio and paste at the top-left of a `height x width` canvas.

    Returns the uint8 canvas `[H, W, 3]` and the scale `s = min(W / w, H / h)`; the resized size is
    `(max(1, min(W, floor(w * s + 0.5))), max(1, min(H, floor(h * s + 0.5))))`, bilinear (Pillow's BILINEAR).
    """
    rgb = to_rgb(image)
    w, h = rgb.size
    s = min(spec.width / w, spec.height / h)
    nw = max(1, min(spec.width, int(np.floor(w * s + 0.5))))
    nh = max(1, min(spec.height, int(np.floor(h * s + 0.5))))
    resized = rgb if (nw, nh) == (w, h) else rgb.resize((nw, nh), Image.Resampling.BILINEAR)
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, dtype=np.uint8)
    canvas[:nh, :nw] = np.asarray(resized, dtype=np.uint8)
    return canvas, s


def preprocess(image: Image.Image, spec: InputSpec) -> tuple[NDArray[np.float32], float]:
    """Image -> normalised CHW float32 tensor `[3, H, W]` and the letterbox scale `s`.

    `(pixel * scale - mean) / std` per channel (computed in float64, stored as float32); boxes predicted in
    the tensor frame map back to the image with `box / s`.
    """
    canvas, s = letterbox(image, spec)
    mean = np.asarray(spec.mean, dtype=np.float64)
    std = np.asarray(spec.std, dtype=np.float64)
    x = (canvas.astype(np.float64) * spec.scale - mean) / std  # [H, W, 3]
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32), s  # [3, H, W]
