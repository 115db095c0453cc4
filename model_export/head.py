"""The RetinaNet heads (classification + box subnets) and their loss, computed with the `losses` library."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import losses

from .anchors import AnchorConfig, encode_boxes, match_anchors
from .boxloss import giou_loss

__all__ = ["CLASSIFICATION_LOSSES", "RetinaHead", "resolve_loss"]

# Training loss names -> (name in `losses`, default parameters). "balanced_ce" is the alpha-balanced
# cross-entropy, written as focal loss with gamma = 0 (the spec's identity).
CLASSIFICATION_LOSSES: dict[str, tuple[str, dict[str, float]]] = {
    "focal": ("focal", {"alpha": 0.25, "gamma": 2.0}),
    "balanced_ce": ("focal", {"alpha": 0.25, "gamma": 0.0}),
    "cross_entropy": ("cross_entropy", {}),
    "hard_truncated": ("hard_truncated", {"m": 0.6}),
    "soft_truncated": ("soft_truncated", {"m": 0.5, "k": 1.0}),
    "focal_star": ("focal_star", {"gamma": 2.0, "beta": 1.0}),
}


def resolve_loss(name: str, params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Training loss name + overrides -> (`losses` name, full parameters); an unknown name: ValueError."""
    if name not in CLASSIFICATION_LOSSES:
        raise ValueError(
            f"loss: unknown classification loss {name!r}; choose one of {sorted(CLASSIFICATION_LOSSES)}"
        )
    lib_name, defaults = CLASSIFICATION_LOSSES[name]
    return lib_name, {**defaults, **(params or {})}


class _Subnet(nn.Sequential):
    def __init__(self, channels: int, out: int, depth: int) -> None:
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, out, 3, padding=1))
        super().__init__(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                assert m.bias is not None
                nn.init.zeros_(m.bias)


class RetinaHead(nn.Module):
    """Classification and box subnets shared over the pyramid levels.

    The classification subnet's last bias starts at `-log((1 - pi) / pi)`, so every anchor starts with
    foreground probability `pi` (the paper's prior: the many negatives do not swamp the first iterations).
    """

    def __init__(
        self, channels: int, num_anchors: int, num_classes: int, depth: int, prior_prob: float
    ) -> None:
        super().__init__()
        self.num_anchors, self.num_classes = num_anchors, num_classes
        self.cls_subnet = _Subnet(channels, num_anchors * num_classes, depth)
        self.box_subnet = _Subnet(channels, num_anchors * 4, depth)
        last = self.cls_subnet[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.constant_(last.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, pyramid: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Pyramid maps `[N, F, h_l, w_l]` -> `cls_logits [N, A, C]`, `box_deltas [N, A, 4]`."""
        cls_out, box_out = [], []
        k, c = self.num_anchors, self.num_classes
        for x in pyramid:
            n, _, h, w = x.shape
            cls = self.cls_subnet(x)  # [N, K*C, h, w]
            cls = cls.view(n, k, c, h, w).permute(0, 3, 4, 1, 2).reshape(n, h * w * k, c)  # [N, h*w*K, C]
            box = self.box_subnet(x)  # [N, K*4, h, w]
            box = box.view(n, k, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, h * w * k, 4)  # [N, h*w*K, 4]
            cls_out.append(cls)
            box_out.append(box)
        return torch.cat(cls_out, dim=1), torch.cat(box_out, dim=1)  # [N, A, C], [N, A, 4]

    def compute_loss(
        self,
        targets: list[dict[str, Tensor]],
        cls_logits: Tensor,
        box_deltas: Tensor,
        anchors: Tensor,
        anchor_cfg: AnchorConfig,
        loss: str = "focal",
        loss_params: Mapping[str, Any] | None = None,
        box_loss: str = "smooth_l1",
    ) -> dict[str, Tensor]:
        """Classification + box losses, each summed and divided by the number of positive anchors.

        `targets[i]`: `boxes [G_i, 4]` xyxy float, `labels [G_i]` int64 in `[0, C)`. Anchors with IoU in
        `[bg_iou, fg_iou)` are ignored (left out of both sums). Returns `{"cls": ..., "box": ...}` scalars.
        """
        lib_name, params = resolve_loss(loss, loss_params)
        loss_fn = losses.get_loss(lib_name)
        matched = torch.stack([match_anchors(t["boxes"], anchors, anchor_cfg) for t in targets])  # [N, A]
        positive = matched >= 0  # [N, A]
        valid = matched != -2  # [N, A], IGNORE = -2
        num_pos = int(positive.sum().item())
        cls_target = torch.zeros_like(cls_logits)  # [N, A, C]
        reg_target = torch.zeros_like(box_deltas)  # [N, A, 4]
        for i, t in enumerate(targets):
            pos_i = positive[i]
            if pos_i.any():
                gt = matched[i][pos_i]  # [P_i]
                cls_target[i, pos_i, t["labels"][gt]] = 1.0
                reg_target[i, pos_i] = encode_boxes(t["boxes"][gt], anchors[pos_i])
        cls = loss_fn(
            cls_logits[valid],  # [M, C]
            cls_target[valid],  # [M, C]
            kind="binary",
            reduction="sum",
            normalizer=num_pos,
            **params,
        )
        pred_pos = box_deltas[positive]  # [P, 4]
        if box_loss == "smooth_l1":
            box = F.smooth_l1_loss(pred_pos, reg_target[positive], beta=1.0 / 9, reduction="sum") / max(
                1, num_pos
            )
        elif box_loss == "giou":
            anchors_pos = anchors.expand(box_deltas.shape[0], -1, -1)[positive]  # [P, 4]
            box = giou_loss(pred_pos, reg_target[positive], anchors_pos) / max(1, num_pos)
        else:
            raise ValueError(f"box_loss: unknown box loss {box_loss!r}; choose 'smooth_l1' or 'giou'")
        return {"cls": cls, "box": box}
