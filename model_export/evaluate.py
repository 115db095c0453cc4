"""COCO mAP with pycocotools' COCOeval (its console output suppressed)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .coco import CocoDetection
from .model import Detector
from .postprocess import PostprocessConfig, postprocess

__all__ = ["COCOMetrics", "coco_map", "detections_to_coco", "evaluate_detector"]


@dataclass(frozen=True)
class COCOMetrics:
    """AP averaged over IoU 0.50:0.95 (`mAP`), at 0.50 (`mAP50`) and at 0.75 (`mAP75`)."""

    mAP: float
    mAP50: float
    mAP75: float

    def as_dict(self) -> dict[str, float]:
        return {"mAP": self.mAP, "mAP50": self.mAP50, "mAP75": self.mAP75}


def detections_to_coco(
    image_ids: Sequence[int],
    scales: Sequence[float],
    category_ids: Sequence[int],
    outputs: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    """Repository-format outputs (boxes in the letterboxed frame) -> COCO result dicts in image pixels."""
    results: list[dict[str, Any]] = []
    for i, image_id in enumerate(image_ids):
        n = int(outputs["num_detections"][i])
        for j in range(n):
            x1, y1, x2, y2 = (float(v) / scales[i] for v in outputs["boxes"][i, j])
            results.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(category_ids[int(outputs["labels"][i, j])]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(outputs["scores"][i, j]),
                }
            )
    return results


def coco_map(annotation_file: str | Path, results: list[dict[str, Any]]) -> COCOMetrics:
    """Evaluate COCO-format `results` against `annotation_file`; no results -> all zeros."""
    if not results:
        return COCOMetrics(0.0, 0.0, 0.0)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        gt = COCO(str(annotation_file))
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(v)) for v in ev.stats[:3]]  # -1 means "no ground truth": reported as 0
    return COCOMetrics(mAP=stats[0], mAP50=stats[1], mAP75=stats[2])


def evaluate_detector(
    model: Detector,
    dataset: CocoDetection,
    anchors: torch.Tensor,
    post: PostprocessConfig,
    batch_size: int = 32,
) -> COCOMetrics:
    """Run a `Detector` over a `CocoDetection` with the torch post-processing and score it with COCOeval."""
    was_training = model.training
    model.eval()
    height, width = dataset.images.shape[-2:]
    parts: dict[str, list[np.ndarray]] = {"boxes": [], "scores": [], "labels": [], "num_detections": []}
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            cls, box = model(dataset.images[start : start + batch_size].to(device))  # [B, A, C], [B, A, 4]
            out = postprocess(cls, box, anchors.to(device), (int(height), int(width)), post)
            for key in parts:
                parts[key].append(out[key].cpu().numpy())
    model.train(was_training)
    if not parts["boxes"]:
        return COCOMetrics(0.0, 0.0, 0.0)
    outputs = {k: np.concatenate(v) for k, v in parts.items()}
    results = detections_to_coco(dataset.image_ids, dataset.scales, dataset.category_ids, outputs)
    return coco_map(dataset.annotation_file, results)
