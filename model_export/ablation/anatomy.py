"""The loss anatomy of a trained detector (paper figure 4): its final logits on held-out images, scored by
`losses.loss_anatomy` under a loss, element by element (one element = one anchor x one class)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

import losses

from ..anchors import IGNORE, AnchorConfig, match_anchors
from ..coco import CocoDetection
from ..head import resolve_loss
from ..model import Detector

__all__ = ["anatomy_of", "final_logits"]


@torch.no_grad()
def final_logits(
    model: Detector,
    data: CocoDetection,
    anchors: torch.Tensor,
    anchor_cfg: AnchorConfig,
    max_images: int,
    batch_size: int = 16,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Logits `[M, C]` and 0/1 targets `[M, C]` of the anchors the training loss counts (ignored anchors are
    left out, as in `RetinaHead.compute_loss`) over the first `max_images` images of `data`."""
    was_training = model.training
    model.eval()
    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.float64]] = []
    n = min(max_images, len(data))
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        cls, _ = model(data.images[start:stop])  # [B, A, C]
        for j in range(stop - start):
            t = data.targets[start + j]
            matched = match_anchors(t["boxes"], anchors, anchor_cfg)  # [A]
            target = torch.zeros_like(cls[j])  # [A, C]
            pos = matched >= 0
            if bool(pos.any()):
                target[pos, t["labels"][matched[pos]]] = 1.0
            keep = matched != IGNORE
            xs.append(cls[j][keep].double().numpy())
            ys.append(target[keep].double().numpy())
    model.train(was_training)
    c = model.cfg.num_classes
    x = np.concatenate(xs) if xs else np.zeros((0, c))
    y = np.concatenate(ys) if ys else np.zeros((0, c))
    return x, y


def anatomy_of(
    logits: NDArray[np.float64], targets: NDArray[np.float64], loss: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """`losses.loss_anatomy` of the elements under a training loss (a `model_export.head` name) + params."""
    lib_name, full = resolve_loss(loss, params)
    return losses.loss_anatomy(logits, targets, loss=lib_name, **full).to_dict()
