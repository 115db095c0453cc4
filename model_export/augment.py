"""Training batches as the service serves: letterboxed images (content at the top-left, padding right and
below), flipped within their content, and scale jitter that shrinks the content inside the same canvas.

The dataset holds each image letterboxed at its service scale `s`; jitter `u <= 1` resizes the canvas
(bilinear, antialiased) to `u` of its size and pastes it at the top-left of a canvas filled with the
normalised pad value: the image as if it had been letterboxed at `s * u`, padding and all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .coco import CocoDetection
from .preprocess import InputSpec

__all__ = ["Augment", "make_batch", "pad_pixel"]


@dataclass(frozen=True)
class Augment:
    """Per-image augmentation drawn once per epoch: horizontal flip with probability `hflip`, and with
    probability `jitter_prob` a scale factor `u` uniform in `[jitter_min, 1]` (1: the service's scale)."""

    hflip: float = 0.5
    jitter_prob: float = 0.0
    jitter_min: float = 1.0

    def draw(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """`flips [n]` bool and `scales [n]` float64 for one epoch, from `generator`."""
        flips = torch.rand(n, generator=generator) < self.hflip  # [n]
        if self.jitter_prob <= 0:
            return flips, torch.ones(n, dtype=torch.float64)
        jittered = torch.rand(n, generator=generator, dtype=torch.float64) < self.jitter_prob  # [n]
        u = self.jitter_min + (1 - self.jitter_min) * torch.rand(n, generator=generator, dtype=torch.float64)
        return flips, torch.where(jittered, u, torch.ones_like(u))


def pad_pixel(spec: InputSpec) -> Tensor:
    """The normalised value of a padding pixel, per channel `[3]` (what the service's letterbox writes)."""
    mean = torch.tensor(spec.mean, dtype=torch.float64)
    std = torch.tensor(spec.std, dtype=torch.float64)
    return ((spec.pad_value * spec.scale - mean) / std).to(torch.float32)


def _shrink(image: Tensor, u: float, pad: Tensor) -> tuple[Tensor, float, float]:
    """`image [3, H, W]` resized to `u` of its size at the top-left of a padded canvas; x and y factors."""
    _, h, w = image.shape
    nw, nh = max(1, math.floor(w * u + 0.5)), max(1, math.floor(h * u + 0.5))
    small = F.interpolate(image[None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    out = pad[:, None, None].expand(3, h, w).clone()  # [3, H, W]
    out[:, :nh, :nw] = small[0]
    return out, nw / w, nh / h


def make_batch(
    data: CocoDetection,
    idx: Tensor,
    flips: Tensor,
    scales: Tensor,
    pad: Tensor,
    device: torch.device,
) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Images `[B, 3, H, W]` and targets for the indices `idx [B]`, flipped where `flips [B]` and shrunk by
    `scales [B]`; without `data.content` (an old dataset object) a flip mirrors the whole canvas."""
    images = data.images[idx].clone()  # [B, 3, H, W]
    width = images.shape[-1]
    targets = []
    for j, i in enumerate(idx.tolist()):
        t = data.targets[i]
        boxes = t["boxes"].clone()  # [G, 4]
        if bool(flips[j]):
            cw = data.content[i][0] if data.content else width
            images[j, :, :, :cw] = images[j, :, :, :cw].flip(-1)
            boxes = torch.stack([cw - boxes[:, 2], boxes[:, 1], cw - boxes[:, 0], boxes[:, 3]], dim=1)
        u = float(scales[j])
        if u != 1.0:
            images[j], fx, fy = _shrink(images[j], u, pad)
            boxes = boxes * torch.tensor([fx, fy, fx, fy], dtype=boxes.dtype)
        targets.append({"boxes": boxes.to(device), "labels": t["labels"].to(device)})
    return images.to(device), targets
