"""Anchors, IoU, anchor-to-object matching and the box coder (torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "BG",
    "IGNORE",
    "AnchorConfig",
    "box_iou",
    "decode_boxes",
    "encode_boxes",
    "make_anchors",
    "match_anchors",
]

BG = -1  # matched index of a negative (background) anchor
IGNORE = -2  # matched index of an anchor between the thresholds: it counts in no loss
BBOX_CLIP = math.log(1000.0 / 16)  # the largest dw, dh applied when decoding (torchvision's value)


@dataclass(frozen=True)
class AnchorConfig:
    """Anchors per pyramid level: `sizes[i]` pixels at `strides[i]`, times `scales` and `ratios` (h / w)."""

    strides: tuple[int, ...] = (8, 16, 32)
    sizes: tuple[float, ...] = (12.0, 24.0, 48.0)
    scales: tuple[float, ...] = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    fg_iou: float = 0.5
    bg_iou: float = 0.4
    allow_low_quality_matches: bool = True

    @property
    def num_per_location(self) -> int:
        return len(self.scales) * len(self.ratios)


def make_anchors(cfg: AnchorConfig, height: int, width: int) -> Tensor:
    """All anchors, xyxy float32 `[A, 4]`, ordered level, then row y, column x, then (ratio, scale).

    That order matches the heads' output flattening: `[N, K*C, h, w] -> [N, h, w, K, C] -> [N, h*w*K, C]`.
    """
    out = []
    for stride, size in zip(cfg.strides, cfg.sizes, strict=True):
        ws, hs = [], []
        for ratio in cfg.ratios:
            for scale in cfg.scales:
                area = (size * scale) ** 2
                w = math.sqrt(area / ratio)
                ws.append(w)
                hs.append(w * ratio)
        wt = torch.tensor(ws, dtype=torch.float64)  # [K]
        ht = torch.tensor(hs, dtype=torch.float64)  # [K]
        fh, fw = math.ceil(height / stride), math.ceil(width / stride)
        cy = (torch.arange(fh, dtype=torch.float64) + 0.5) * stride  # [fh]
        cx = (torch.arange(fw, dtype=torch.float64) + 0.5) * stride  # [fw]
        cyy, cxx = torch.meshgrid(cy, cx, indexing="ij")  # [fh, fw] each
        c = torch.stack([cxx, cyy, cxx, cyy], dim=-1)[:, :, None, :]  # [fh, fw, 1, 4]
        half = torch.stack([-wt, -ht, wt, ht], dim=-1) / 2  # [K, 4]
        out.append((c + half).reshape(-1, 4))  # [fh*fw*K, 4]
    return torch.cat(out).to(torch.float32)  # [A, 4]


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of xyxy boxes `a [M, 4]` and `b [P, 4]` -> `[M, P]`."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)  # [M]
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)  # [P]
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])  # [M, P, 2]
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # [M, P, 2]
    wh = (rb - lt).clamp(min=0)  # [M, P, 2]
    inter = wh[..., 0] * wh[..., 1]  # [M, P]
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def match_anchors(gt_boxes: Tensor, anchors: Tensor, cfg: AnchorConfig) -> Tensor:
    """Index of the matched object per anchor `[A]` (int64): `>= 0` positive, `BG` negative, `IGNORE`.

    IoU >= `fg_iou` is positive, < `bg_iou` negative, in between ignored. With `allow_low_quality_matches`,
    each object's best anchor(s) are also positive (torchvision's RetinaNet rule): no object goes unmatched.
    """
    num_anchors = anchors.shape[0]
    if gt_boxes.numel() == 0:
        return torch.full((num_anchors,), BG, dtype=torch.int64, device=anchors.device)
    iou = box_iou(gt_boxes, anchors)  # [G, A]
    best_iou, best_gt = iou.max(dim=0)  # [A], [A]
    matched = best_gt.clone()
    matched[best_iou < cfg.fg_iou] = IGNORE
    matched[best_iou < cfg.bg_iou] = BG
    if cfg.allow_low_quality_matches:
        per_gt_best = iou.max(dim=1, keepdim=True).values  # [G, 1]
        gt_idx, anchor_idx = torch.nonzero((iou == per_gt_best) & (per_gt_best > 0), as_tuple=True)
        matched[anchor_idx] = best_gt[anchor_idx]
        del gt_idx
    return matched


def encode_boxes(boxes: Tensor, anchors: Tensor) -> Tensor:
    """Regression targets `(dx, dy, dw, dh)` of xyxy `boxes [..., 4]` relative to `anchors [..., 4]`."""
    aw = anchors[..., 2] - anchors[..., 0]
    ah = anchors[..., 3] - anchors[..., 1]
    ax = anchors[..., 0] + 0.5 * aw
    ay = anchors[..., 1] + 0.5 * ah
    bw = boxes[..., 2] - boxes[..., 0]
    bh = boxes[..., 3] - boxes[..., 1]
    bx = boxes[..., 0] + 0.5 * bw
    by = boxes[..., 1] + 0.5 * bh
    return torch.stack([(bx - ax) / aw, (by - ay) / ah, torch.log(bw / aw), torch.log(bh / ah)], dim=-1)


def decode_boxes(deltas: Tensor, anchors: Tensor) -> Tensor:
    """Inverse of `encode_boxes`: deltas `[..., 4]` on anchors `[..., 4]` (broadcast) -> xyxy `[..., 4]`."""
    aw = anchors[..., 2] - anchors[..., 0]
    ah = anchors[..., 3] - anchors[..., 1]
    ax = anchors[..., 0] + 0.5 * aw
    ay = anchors[..., 1] + 0.5 * ah
    cx = deltas[..., 0] * aw + ax
    cy = deltas[..., 1] * ah + ay
    w = torch.exp(deltas[..., 2].clamp(max=BBOX_CLIP)) * aw
    h = torch.exp(deltas[..., 3].clamp(max=BBOX_CLIP)) * ah
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
