"""Image decoding, letterboxing and normalisation as ``docs/model_repository.md`` states; boxes mapped back.

Shapes: an image decodes to RGB ``[h, w, 3]`` uint8; `letterbox` makes the model input ``[3, H, W]`` float32
and the scale ``s = min(W / w, H / h)``; `boxes_to_image` maps model boxes ``[D, 4]`` back with ``box / s``,
clipped to the image.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InvalidInput, PayloadTooLarge

__all__ = [
    "InputSpec",
    "PixelBudget",
    "Prepared",
    "boxes_in_image",
    "boxes_to_image",
    "decode_image",
    "letterbox",
    "prepare_image",
    "to_rgb",
]


@dataclass(frozen=True)
class InputSpec:
    """The ``input`` section of a model's metadata.json (the preprocessing contract)."""

    name: str
    height: int
    width: int
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad_value: float = 0.0


@dataclass(frozen=True)
class Prepared:
    """One image ready for the model: ``tensor`` ``[3, H, W]`` float32, original size, letterbox scale."""

    tensor: np.ndarray
    width: int
    height: int
    scale: float


class PixelBudget:
    """The decoded pixels one request may still spend on its images (``limit`` in all)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def spend(self, pixels: int, field: str) -> None:
        """Count one image's pixels, before it is decoded; `PayloadTooLarge` past the limit."""
        self.used += pixels
        if self.used > self.limit:
            raise PayloadTooLarge(
                f"the request's images hold more than {self.limit} pixels in all (max_request_pixels); "
                "send fewer or smaller images per request",
                field=field,
            )


def decode_image(
    data: bytes, *, max_pixels: int, field: str = "image", budget: PixelBudget | None = None
) -> Image.Image:
    """Decode encoded bytes (JPEG, PNG, WebP, ...) into a fully loaded Pillow image.

    The size is read from the header first: more than ``max_pixels``, or more than the request's
    ``budget`` has left, is refused before anything is decoded.

    Raises:
        InvalidInput: empty, undecodable or truncated data.
        PayloadTooLarge: more than ``max_pixels`` pixels (checked from the header, before decoding).
    """
    if not data:
        raise InvalidInput("the image is empty (0 bytes)", field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"the image is {width}x{height} = {width * height} pixels, more than the limit "
                    f"of {max_pixels} pixels",
                    field=field,
                )
            if budget is not None:
                budget.spend(width * height, field)
            image.load()
            # the EXIF orientation (phone photos): boxes come back in the frame the user sees
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"the image is too large to decode safely: {exc}", field=field) from None
    except UnidentifiedImageError:
        raise InvalidInput("the data is not an image in a supported format", field=field) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidInput(
            f"the image could not be decoded (truncated or corrupt): {exc}", field=field
        ) from exc
    if image.width < 1 or image.height < 1:
        raise InvalidInput(f"the image has no pixels ({width}x{height})", field=field)
    return image


def to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any decoded image to RGB uint8 ``[h, w, 3]``.

    Alpha is composited on black; 16-bit greyscale maps 0..65535 to 0..255 (``/ 257``, round half up);
    32-bit integer or float greyscale is taken as 0..255 values (rounded, clipped); greyscale, palette, CMYK
    and YCbCr go through Pillow's conversions.
    """
    mode = image.mode
    if mode.startswith("I;16"):
        grey = np.floor(np.asarray(image, dtype=np.float64) / 257.0 + 0.5).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("I", "F"):
        grey = np.clip(np.floor(np.asarray(image, dtype=np.float64) + 0.5), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def letterbox(rgb: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, float]:
    """Letterbox ``rgb`` ``[h, w, 3]`` into the model input ``[3, H, W]`` float32; return it and ``s``.

    ``s = min(W / w, H / h)``; the image is resized (bilinear) to ``floor(w s + 0.5) x floor(h s + 0.5)``
    (at least 1 pixel, at most the canvas), placed at the top-left corner, the rest filled with
    ``pad_value``; then ``(pixel * scale - mean) / std`` per channel, in float64, stored as float32.
    """
    h, w = rgb.shape[:2]
    s = min(spec.width / w, spec.height / h)
    new_w = max(1, min(spec.width, math.floor(w * s + 0.5)))
    new_h = max(1, min(spec.height, math.floor(h * s + 0.5)))
    if (new_w, new_h) != (w, h):
        resized = np.asarray(Image.fromarray(rgb, "RGB").resize((new_w, new_h), Image.Resampling.BILINEAR))
    else:
        resized = rgb
    pad = spec.pad_value
    if float(pad).is_integer() and 0 <= pad <= 255:
        # pixels are 0..255: normalise through a per-channel table of the float64 formula (the same float32
        # values, a quarter of the time)
        canvas = np.full((spec.height, spec.width, 3), int(pad), dtype=np.uint8)
        canvas[:new_h, :new_w] = resized
        table = _normalisation_table(spec.scale, spec.mean, spec.std)  # [3, 256]
        out = np.empty((3, spec.height, spec.width), dtype=np.float32)
        for c in range(3):
            np.take(table[c], canvas[:, :, c], out=out[c])
        return out, s
    wide = np.full((spec.height, spec.width, 3), pad, dtype=np.float64)
    wide[:new_h, :new_w] = resized
    normalised = (wide * spec.scale - np.asarray(spec.mean)) / np.asarray(spec.std)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32), s


@functools.lru_cache(maxsize=16)
def _normalisation_table(
    scale: float, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> np.ndarray:
    """``float32((v * scale - mean_c) / std_c)`` for every pixel value ``v`` in 0..255: ``[3, 256]``."""
    values = np.arange(256, dtype=np.float64)
    return np.stack([((values * scale - m) / sd).astype(np.float32) for m, sd in zip(mean, std, strict=True)])


def prepare_image(
    data: bytes,
    spec: InputSpec,
    *,
    max_pixels: int,
    field: str = "image",
    budget: PixelBudget | None = None,
) -> Prepared:
    """Decode, convert to RGB and letterbox one encoded image (runs in a worker thread)."""
    rgb = to_rgb(decode_image(data, max_pixels=max_pixels, field=field, budget=budget))
    tensor, s = letterbox(rgb, spec)
    return Prepared(tensor, rgb.shape[1], rgb.shape[0], s)


#: A box with less than this share of its area inside the letterboxed image (the rest: padding) is dropped.
MIN_INSIDE_FRACTION = 0.5
#: A box narrower or lower than this, in original pixels after clipping, is dropped.
MIN_BOX_SIDE = 1.0


def boxes_in_image(boxes: np.ndarray, scale: float, width: int, height: int) -> np.ndarray:
    """Which model boxes ``[D, 4]`` (xyxy, model-input pixels) describe the image and not the padding.

    The image fills ``[0, w s] x [0, h s]`` of the letterboxed input; a box is kept when at least
    `MIN_INSIDE_FRACTION` of its area lies there and, mapped back and clipped (`boxes_to_image`), both its
    sides are at least `MIN_BOX_SIDE` pixels. Returns a boolean mask ``[D]``.
    """
    b = boxes.astype(np.float64)
    inner_w = np.clip(np.minimum(b[:, 2], width * scale) - np.maximum(b[:, 0], 0.0), 0.0, None)
    inner_h = np.clip(np.minimum(b[:, 3], height * scale) - np.maximum(b[:, 1], 0.0), 0.0, None)
    area = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    inside = np.divide(inner_w * inner_h, area, out=np.zeros_like(area), where=area > 0)
    mapped = boxes_to_image(boxes, scale, width, height)
    sides_ok = (mapped[:, 2] - mapped[:, 0] >= MIN_BOX_SIDE) & (mapped[:, 3] - mapped[:, 1] >= MIN_BOX_SIDE)
    keep: np.ndarray = (inside >= MIN_INSIDE_FRACTION) & sides_ok
    return keep


def boxes_to_image(boxes: np.ndarray, scale: float, width: int, height: int) -> np.ndarray:
    """Map boxes ``[D, 4]`` (xyxy, model-input pixels) to the original image: ``box / s``, clipped."""
    out = boxes.astype(np.float64) / scale
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out
