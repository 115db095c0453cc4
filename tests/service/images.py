"""Test images: a red rectangle on grey (the stand-in model finds it), encoded in any format."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

RED_BOX = (50, 20, 90, 60)  # x1, y1, x2, y2 (exclusive) in a 200 x 100 image


def red_box_image(
    mode: str = "RGB", size: tuple[int, int] = (200, 100), box: tuple[int, ...] = RED_BOX
) -> Image.Image:
    image = Image.new("RGB", size, (128, 128, 128))
    if box[2] > box[0] and box[3] > box[1]:
        ImageDraw.Draw(image).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(255, 0, 0))
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def iou(a: list[float], b: tuple[int, ...] | list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union
