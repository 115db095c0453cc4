from __future__ import annotations

import math

import pytest
import torch

from model_export.anchors import (
    BG,
    IGNORE,
    AnchorConfig,
    box_iou,
    decode_boxes,
    encode_boxes,
    make_anchors,
    match_anchors,
)

STRICT = AnchorConfig(allow_low_quality_matches=False)


def _box_with_iou(iou: float) -> torch.Tensor:
    """A box sharing the top-left corner of the unit anchor [0,0,10,10], shifted right so IoU == iou."""
    # overlap width w: 10 w / (200 - 10 w) = iou  ->  w = 200 iou / (10 (1 + iou))
    w = 20 * iou / (1 + iou)
    return torch.tensor([[10 - w, 0.0, 20 - w, 10.0]])


def test_thresholds_positive_ignored_negative() -> None:
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    for iou, expected in [(0.7, 0), (0.5, 0), (0.49, IGNORE), (0.4, IGNORE), (0.39, BG), (0.1, BG)]:
        gt = _box_with_iou(iou)
        assert box_iou(gt, anchors).item() == pytest.approx(iou, abs=1e-5)
        assert match_anchors(gt, anchors, STRICT).item() == expected, iou


def test_low_quality_match_makes_each_objects_best_anchor_positive() -> None:
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    gt = _box_with_iou(0.3)
    assert match_anchors(gt, anchors, STRICT).tolist() == [BG, BG]
    assert match_anchors(gt, anchors, AnchorConfig()).tolist() == [0, BG]


def test_no_objects_means_all_negative() -> None:
    anchors = make_anchors(AnchorConfig(), 64, 64)
    assert (match_anchors(torch.zeros(0, 4), anchors, AnchorConfig()) == BG).all()


def test_anchor_layout_count_sizes_and_centres() -> None:
    cfg = AnchorConfig()
    anchors = make_anchors(cfg, 128, 128)
    per_level = [math.ceil(128 / s) ** 2 * cfg.num_per_location for s in cfg.strides]
    assert anchors.shape == (sum(per_level), 4)
    first = anchors[: cfg.num_per_location]  # level 0, cell (0, 0)
    centres = (first[:, :2] + first[:, 2:]) / 2
    assert torch.allclose(centres, torch.full_like(centres, cfg.strides[0] / 2))
    areas = (first[:, 2] - first[:, 0]) * (first[:, 3] - first[:, 1])
    assert areas.min().item() == pytest.approx(cfg.sizes[0] ** 2, rel=1e-5)


def test_encode_decode_round_trip() -> None:
    anchors = make_anchors(AnchorConfig(), 32, 32)[:20]
    boxes = anchors * 1.1 + 2.0
    back = decode_boxes(encode_boxes(boxes, anchors), anchors)
    assert torch.allclose(back, boxes, atol=1e-4)
