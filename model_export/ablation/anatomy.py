"""The loss anatomy of a trained detector (paper figure 4): its final logits on held-out images, scored by
`losses.loss_anatomy` under a loss, element by element (one element = one anchor x one class).

`losses.loss_anatomy` reports the cumulative curves on a 5% grid. A dense detector has hundreds of thousands
of negative elements, so the contrast between CE and focal loss sits in the hardest fraction of a percent;
`tail` adds the share of each group's loss carried by its hardest 0.01% ... 100%.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

import losses

from ..anchors import IGNORE, AnchorConfig, match_anchors
from ..coco import CocoDetection
from ..head import resolve_loss
from ..model import Detector
from ..preprocess import InputSpec

__all__ = ["TAIL_FRACTIONS", "anatomy_from_run", "anatomy_of", "final_logits", "tail_shares"]

TAIL_FRACTIONS: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
PAPER_GAMMAS = (0.0, 0.5, 1.0, 2.0)  # figure 4 of the paper: one converged focal model under each gamma


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


def tail_shares(
    values: NDArray[np.float64], fractions: tuple[float, ...] = TAIL_FRACTIONS
) -> list[float] | None:
    """Share of the sum held by the largest `ceil(f * n)` values, for each `f`; None if the sum is 0."""
    v = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))[::-1]  # descending
    total = float(np.sum(v, dtype=np.float64))
    if v.size == 0 or total <= 0.0:
        return None
    csum = np.cumsum(v, dtype=np.float64)  # [n]
    return [float(csum[max(1, int(np.ceil(f * v.size))) - 1] / total) for f in fractions]


def anatomy_of(
    logits: NDArray[np.float64], targets: NDArray[np.float64], loss: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """`losses.loss_anatomy` under a training loss (a `model_export.head` name) + params, plus the tail."""
    lib_name, full = resolve_loss(loss, params)
    out = losses.loss_anatomy(logits, targets, loss=lib_name, **full).to_dict()
    per_elem = np.asarray(losses.get_loss(lib_name)(logits, targets, kind="binary", reduction="none", **full))
    pos = targets > 0.5
    out["tail"] = {
        "fractions": list(TAIL_FRACTIONS),
        "negative": tail_shares(per_elem[~pos]),
        "positive": tail_shares(per_elem[pos]),
    }
    return out


def anatomy_from_run(
    run_dir: Path,
    val_annotations: Path,
    spec: InputSpec,
    loss: str,
    params: Mapping[str, Any],
    max_images: int,
) -> dict[str, Any]:
    """The anatomy of a finished training run (its final checkpoint) on held-out images: `own` under the loss
    it was trained with and, for a focal model, `by_gamma` (the same model under gamma 0, .5, 1, 2).

    The run was trained with the default `DetectorConfig` and input `spec` (see `runner.run_setting`); only
    its checkpoint's weights and class list are read.
    """
    from ..anchors import make_anchors
    from ..coco import load_coco
    from ..model import DetectorConfig
    from ..train import CHECKPOINT

    state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
    det_cfg = DetectorConfig(num_classes=len(state["classes"]))
    model = Detector(det_cfg)
    model.load_state_dict(state["model"])
    model.eval()
    anchors = make_anchors(det_cfg.anchors, spec.height, spec.width)
    val = load_coco(val_annotations, spec)
    x, y = final_logits(model, val, anchors, det_cfg.anchors, max_images)
    out: dict[str, Any] = {"own": anatomy_of(x, y, loss, params)}
    if loss == "focal":
        out["by_gamma"] = {f"{g:g}": anatomy_of(x, y, "focal", {**params, "gamma": g}) for g in PAPER_GAMMAS}
    return out
