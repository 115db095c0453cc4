"""A deterministic synthetic dense-detection dataset in COCO format (numpy + Pillow, nothing downloaded).

Each image holds many small shapes of several classes, sizes and colours on a textured, noisy background, so a
dense detector sees thousands of easy negative anchors for each object: the imbalance focal loss is about.
Image `i` of a split depends only on `(seed, i)`. A `SyntheticMix` draws each image from one of several
configurations (sizes, aspect ratios, densities, object sizes), the component too chosen by `(seed, i)`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["CLASSES", "SyntheticConfig", "SyntheticMix", "generate", "render_image"]

CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star")


@dataclass(frozen=True)
class SyntheticConfig:
    """What to draw: image size, objects per image, object size range (pixels, bounding-circle diameter)."""

    width: int = 128
    height: int = 128
    min_objects: int = 4
    max_objects: int = 12
    min_size: int = 12
    max_size: int = 36
    noise_std: float = 10.0
    max_overlap: float = 0.15


@dataclass(frozen=True)
class SyntheticMix:
    """A split mixing distributions: image `i` of split `seed` is drawn from `components[k]`, `k` chosen by
    `(seed, i)` with probability proportional to `weights[k]` (all equal when `weights` is empty)."""

    components: tuple[SyntheticConfig, ...]
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.components:
            raise ValueError("components: a mix needs at least one configuration")
        if self.weights and (len(self.weights) != len(self.components) or min(self.weights) < 0):
            raise ValueError("weights: one non-negative weight per component")
        if self.weights and sum(self.weights) <= 0:
            raise ValueError("weights: at least one must be positive")

    def pick(self, seed: int, index: int) -> SyntheticConfig:
        """The component image `index` of split `seed` is drawn from (its own stream: `render_image`'s draws
        for a given component are those of a single-configuration split)."""
        w = np.asarray(self.weights or [1.0] * len(self.components), dtype=np.float64)
        u = float(np.random.default_rng([seed, index, 0x5EED]).random())
        k = int(np.searchsorted(np.cumsum(w) / w.sum(), u, side="right"))
        return self.components[min(k, len(self.components) - 1)]


def _background(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """A muted texture `[H, W, 3]` float: a colour gradient, stripes and blurred blobs."""
    h, w = cfg.height, cfg.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = rng.uniform(60, 190, size=3)
    grad = rng.uniform(-40, 40, size=(2, 3))
    img = base + (xx[..., None] / w) * grad[0] + (yy[..., None] / h) * grad[1]
    freq = rng.uniform(0.05, 0.3)
    angle = rng.uniform(0, math.pi)
    stripes = np.sin(freq * (xx * math.cos(angle) + yy * math.sin(angle)) + rng.uniform(0, 2 * math.pi))
    img += stripes[..., None] * rng.uniform(5, 25) * rng.uniform(0.5, 1.0, size=3)
    blobs = rng.normal(0, 1, size=(h // 8 + 1, w // 8 + 1, 3))
    blob_img = Image.fromarray(np.uint8(np.clip(128 + 40 * blobs, 0, 255)))
    blob_up = np.asarray(blob_img.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64) - 128.0
    img += blob_up * rng.uniform(0.2, 0.6)
    return np.asarray(img, dtype=np.float64)


def _shape_mask(kind: str, cx: float, cy: float, r: float, rot: float, size: tuple[int, int]) -> Image.Image:
    """A binary 'L' mask of one shape of bounding-circle radius `r` centred at `(cx, cy)`."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif kind == "square":
        draw.regular_polygon((cx, cy, r), 4, rotation=45 + rot * 0.3, fill=255)
    elif kind == "triangle":
        draw.regular_polygon((cx, cy, r), 3, rotation=rot, fill=255)
    elif kind == "cross":
        t = r * 0.33
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=255)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=255)
    elif kind == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            a = math.radians(rot) + k * math.pi / 5 - math.pi / 2
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        draw.polygon(pts, fill=255)
    else:
        raise ValueError(f"unknown shape kind {kind!r}")
    return mask


def _iou_xywh(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def render_image(seed: int, index: int, cfg: SyntheticConfig) -> tuple[Image.Image, list[dict[str, Any]]]:
    """Draw image `index` of split `seed` -> the RGB image and its objects (`bbox` xywh, `label`, `area`)."""
    rng = np.random.default_rng([seed, index])
    size = (cfg.width, cfg.height)
    img = _background(rng, cfg)
    objects: list[dict[str, Any]] = []
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    for _ in range(n * 4):  # a few tries per object to respect the overlap limit
        if len(objects) == n:
            break
        label = int(rng.integers(len(CLASSES)))
        r = rng.uniform(cfg.min_size, cfg.max_size) / 2
        cx, cy = rng.uniform(r, cfg.width - r), rng.uniform(r, cfg.height - r)
        mask = _shape_mask(CLASSES[label], cx, cy, r, float(rng.uniform(0, 360)), size)
        m = np.asarray(mask, dtype=np.float64) / 255.0  # [H, W]
        ys, xs = np.nonzero(m > 0.5)
        if xs.size == 0:
            continue
        bbox = [
            float(xs.min()),
            float(ys.min()),
            float(xs.max() + 1 - xs.min()),
            float(ys.max() + 1 - ys.min()),
        ]
        if any(_iou_xywh(bbox, o["bbox"]) > cfg.max_overlap for o in objects):
            continue
        colour = rng.uniform(0, 255, size=3)
        colour[rng.integers(3)] = rng.choice([rng.uniform(0, 40), rng.uniform(215, 255)])  # saturated
        img = img * (1 - m[..., None]) + colour * m[..., None]
        objects.append({"bbox": bbox, "label": label, "area": float((m > 0.5).sum())})
    img += rng.normal(0, cfg.noise_std, size=img.shape)
    out = Image.fromarray(np.uint8(np.clip(np.round(img), 0, 255)), mode="RGB")
    return out.filter(ImageFilter.GaussianBlur(radius=0.5)), objects


def generate(
    out_dir: str | Path, num_images: int, seed: int, cfg: SyntheticConfig | SyntheticMix | None = None
) -> Path:
    """Write `out_dir/images/*.png` and `out_dir/instances.json` (COCO); returns the annotation file path.

    With a `SyntheticMix` each image has its component's size (the COCO `width` / `height` say which)."""
    mix = cfg if isinstance(cfg, SyntheticMix) else SyntheticMix((cfg or SyntheticConfig(),))
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(num_images):
        part = mix.pick(seed, i) if len(mix.components) > 1 else mix.components[0]
        image, objects = render_image(seed, i, part)
        name = f"{i:06d}.png"
        image.save(out / "images" / name, format="PNG", optimize=False)
        images.append({"id": i + 1, "file_name": name, "width": part.width, "height": part.height})
        for obj in objects:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": obj["label"] + 1,
                    "bbox": obj["bbox"],
                    "area": obj["area"],
                    "iscrowd": 0,
                }
            )
    coco = {
        "info": {"description": f"focalserve synthetic shapes, seed {seed}", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": k + 1, "name": name, "supercategory": "shape"} for k, name in enumerate(CLASSES)
        ],
    }
    path = out / "instances.json"
    path.write_text(json.dumps(coco, indent=1))
    return path
