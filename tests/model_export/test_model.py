from __future__ import annotations

import math

import pytest
import torch

from model_export import Detector, DetectorConfig, make_anchors
from model_export.head import CLASSIFICATION_LOSSES, resolve_loss


def test_prior_bias_init_gives_pi_everywhere() -> None:
    torch.manual_seed(0)
    model = Detector(DetectorConfig()).eval()
    last = model.head.cls_subnet[-1]
    assert isinstance(last, torch.nn.Conv2d) and last.bias is not None
    bias = last.bias
    assert torch.allclose(bias, torch.full_like(bias, -math.log((1 - 0.01) / 0.01)))
    assert bias[0].item() == pytest.approx(-4.59512, abs=1e-5)
    with torch.no_grad():
        cls, _box = model(torch.randn(2, 3, 128, 128))
    p = torch.sigmoid(cls)
    assert p.mean().item() == pytest.approx(0.01, rel=0.05)


def test_output_shapes_follow_the_anchors() -> None:
    cfg = DetectorConfig(num_classes=3)
    model = Detector(cfg).eval()
    anchors = make_anchors(cfg.anchors, 96, 128)
    with torch.no_grad():
        cls, box = model(torch.zeros(1, 3, 96, 128))
    assert cls.shape == (1, anchors.shape[0], 3)
    assert box.shape == (1, anchors.shape[0], 4)


def test_loss_names_resolve_and_unknown_names_are_rejected() -> None:
    assert resolve_loss("focal") == ("focal", {"alpha": 0.25, "gamma": 2.0})
    assert resolve_loss("balanced_ce", {"alpha": 0.5}) == ("focal", {"alpha": 0.5, "gamma": 0.0})
    assert set(CLASSIFICATION_LOSSES) >= {
        "focal",
        "balanced_ce",
        "hard_truncated",
        "soft_truncated",
        "focal_star",
    }
    with pytest.raises(ValueError, match="loss"):
        resolve_loss("mse")
