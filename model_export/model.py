"""A compact RetinaNet-style detector: conv backbone, feature pyramid, classification and box subnets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn

from .anchors import AnchorConfig
from .head import RetinaHead

__all__ = ["Backbone", "Detector", "DetectorConfig", "FeaturePyramid"]


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture: channel widths, head depth, number of classes and the anchor layout."""

    num_classes: int = 5
    backbone_channels: tuple[int, ...] = (24, 32, 64, 96, 128)
    fpn_channels: int = 64
    head_convs: int = 2
    prior_prob: float = 0.01
    anchors: AnchorConfig = field(default_factory=AnchorConfig)


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Backbone(nn.Module):
    """Stride-2 stages; returns the feature maps at strides 2, 4, 8, 16, 32 (one per stage)."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(channels):
            layers = [_conv_bn(cin, cout, 2)] + ([_conv_bn(cout, cout, 1)] if i > 0 else [])
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)  # [N, c_i, H / 2^(i+1), W / 2^(i+1)]
            feats.append(x)
        return feats


class FeaturePyramid(nn.Module):
    """Top-down pathway with lateral 1x1 and output 3x3 convs over the chosen backbone levels."""

    def __init__(self, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        lat = [conv(f) for conv, f in zip(self.lateral, feats, strict=True)]  # [N, F, h_l, w_l] each
        outs = [lat[-1]]
        for x in reversed(lat[:-1]):
            up = F.interpolate(outs[0], size=x.shape[-2:], mode="nearest")  # [N, F, h_l, w_l]
            outs.insert(0, x + up)
        return [conv(o) for conv, o in zip(self.output, outs, strict=True)]


class Detector(nn.Module):
    """Backbone + pyramid + heads. `forward(images [N,3,H,W]) -> (cls_logits [N,A,C], box_deltas [N,A,4])`.

    The anchor order of `A` is `make_anchors`' order (level, y, x, anchor kind). Post-processing (decode, NMS)
    lives in `postprocess` (torch) and in the exported ONNX graph.
    """

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg.backbone_channels)
        self.level_index = [int(math.log2(s)) - 1 for s in cfg.anchors.strides]  # stage index per level
        in_ch = [cfg.backbone_channels[i] for i in self.level_index]
        self.fpn = FeaturePyramid(in_ch, cfg.fpn_channels)
        self.head = RetinaHead(
            cfg.fpn_channels, cfg.anchors.num_per_location, cfg.num_classes, cfg.head_convs, cfg.prior_prob
        )

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.backbone(images)
        pyramid = self.fpn([feats[i] for i in self.level_index])
        cls_logits, box_deltas = self.head(pyramid)  # [N, A, C], [N, A, 4]
        return cls_logits, box_deltas
