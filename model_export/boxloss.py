"""The GIoU box loss (Rezatofighi et al. 2019) on decoded boxes."""

from __future__ import annotations

import torch
from torch import Tensor

from .anchors import decode_boxes

__all__ = ["giou_loss"]


def giou_loss(pred_deltas: Tensor, target_deltas: Tensor, anchors: Tensor, eps: float = 1e-7) -> Tensor:
    """Sum over rows of `1 - GIoU` of the boxes decoded from `pred_deltas [P, 4]`, `target_deltas [P, 4]`."""
    p = decode_boxes(pred_deltas, anchors)  # [P, 4] xyxy
    t = decode_boxes(target_deltas, anchors)  # [P, 4] xyxy
    area_p = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])  # [P]
    area_t = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])  # [P]
    iw = (torch.minimum(p[:, 2], t[:, 2]) - torch.maximum(p[:, 0], t[:, 0])).clamp(min=0)  # [P]
    ih = (torch.minimum(p[:, 3], t[:, 3]) - torch.maximum(p[:, 1], t[:, 1])).clamp(min=0)  # [P]
    inter = iw * ih
    union = area_p + area_t - inter
    iou = inter / (union + eps)
    cw = torch.maximum(p[:, 2], t[:, 2]) - torch.minimum(p[:, 0], t[:, 0])  # [P]
    ch = torch.maximum(p[:, 3], t[:, 3]) - torch.minimum(p[:, 1], t[:, 1])  # [P]
    hull = cw * ch
    giou = iou - (hull - union) / (hull + eps)
    return (1.0 - giou).sum()
