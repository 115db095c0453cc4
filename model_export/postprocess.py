"""Detection post-processing in torch, step for step the graph that `onnx_post` builds.

decode -> clip -> per-class NMS with ONNX `NonMaxSuppression` semantics (score > threshold, greedy by
descending score, suppress IoU > iou_threshold, at most D per class) -> a dense `[N, C*A]` score map of the
kept detections (-1 elsewhere) -> top-D -> padding (boxes 0, scores 0, labels -1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .anchors import box_iou, decode_boxes

__all__ = ["PostprocessConfig", "nms_indices", "postprocess"]


@dataclass(frozen=True)
class PostprocessConfig:
    """Thresholds and the fixed number of output rows `max_detections` (D)."""

    score_threshold: float = 0.05
    iou_threshold: float = 0.5
    max_detections: int = 100


def nms_indices(
    boxes: Tensor, scores: Tensor, iou_threshold: float, score_threshold: float, limit: int
) -> Tensor:
    """Greedy NMS of one class: `boxes [A, 4]`, `scores [A]` -> kept indices, by descending score."""
    cand = torch.nonzero(scores > score_threshold).flatten()  # [M]
    order = cand[torch.argsort(scores[cand], descending=True, stable=True)]  # [M]
    if order.numel() == 0:
        return order
    iou = box_iou(boxes[order], boxes[order])  # [M, M]
    remaining = torch.ones(order.numel(), dtype=torch.bool, device=boxes.device)  # [M]
    keep: list[int] = []
    while len(keep) < limit:
        i = int(torch.argmax(remaining.to(torch.uint8)))  # first still-candidate box, highest score
        if not remaining[i]:
            break
        keep.append(i)
        remaining &= iou[i] <= iou_threshold
        remaining[i] = False
    return order[torch.tensor(keep, dtype=torch.int64, device=boxes.device)]


@torch.no_grad()
def postprocess(
    cls_logits: Tensor,
    box_deltas: Tensor,
    anchors: Tensor,
    image_size: tuple[int, int],
    cfg: PostprocessConfig,
) -> dict[str, Tensor]:
    """Network outputs -> the model repository's outputs.

    `cls_logits [N, A, C]`, `box_deltas [N, A, 4]`, `anchors [A, 4]`, `image_size = (H, W)`. Returns `boxes
    [N, D, 4]` float32 xyxy, `scores [N, D]` float32, `labels [N, D]` int64, `num_detections [N]` int64.
    """
    n, a, c = cls_logits.shape
    h, w = image_size
    d = cfg.max_detections
    scores = torch.sigmoid(cls_logits.float())  # [N, A, C]
    boxes = decode_boxes(box_deltas.float(), anchors[None])  # [N, A, 4]
    limits = torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
    boxes = torch.minimum(boxes.clamp(min=0), limits)  # [N, A, 4]
    dense = torch.full((n, c, a), -1.0, device=boxes.device)  # [N, C, A]: kept scores, -1 elsewhere
    for i in range(n):
        for k in range(c):
            kept = nms_indices(boxes[i], scores[i, :, k], cfg.iou_threshold, cfg.score_threshold, d)
            dense[i, k, kept] = scores[i, kept, k]
    top_scores, top_idx = torch.topk(dense.reshape(n, c * a), k=min(d, c * a), dim=1)  # [N, D] each
    valid = top_scores > -0.5  # [N, D]
    labels = torch.div(top_idx, a, rounding_mode="floor")  # [N, D]
    anchor_idx = top_idx - labels * a  # [N, D]
    top_boxes = torch.gather(boxes, 1, anchor_idx[..., None].expand(-1, -1, 4))  # [N, D, 4]
    return {
        "boxes": torch.where(valid[..., None], top_boxes, torch.zeros_like(top_boxes)),
        "scores": torch.where(valid, top_scores, torch.zeros_like(top_scores)),
        "labels": torch.where(valid, labels, torch.full_like(labels, -1)),
        "num_detections": valid.sum(dim=1).to(torch.int64),
    }
