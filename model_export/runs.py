"""Run directories: a training run's config.json + checkpoint.pt back into a model."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .anchors import AnchorConfig, make_anchors
from .model import Detector, DetectorConfig
from .postprocess import PostprocessConfig
from .preprocess import InputSpec
from .train import CHECKPOINT, TrainConfig

__all__ = ["config_from_dict", "config_to_dict", "load_run"]


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """A JSON-ready dict of the config (nested dataclasses as dicts)."""
    return json.loads(json.dumps(asdict(cfg)))  # type: ignore[no-any-return]


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    """Inverse of `config_to_dict`; unknown keys raise TypeError naming them."""
    d = dict(d)
    det = dict(d.pop("detector", {}))
    anchors = AnchorConfig(**_tuples(det.pop("anchors", {})))
    detector = DetectorConfig(**_tuples(det), anchors=anchors)
    input_spec = InputSpec(**_tuples(d.pop("input", {})))
    post = PostprocessConfig(**d.pop("post", {}))
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(d) - known
    if unknown:
        raise TypeError(f"config: unknown keys {sorted(unknown)}")
    return TrainConfig(**d, detector=detector, input=input_spec, post=post)


def load_run(run_dir: str | Path) -> tuple[TrainConfig, Detector, Tensor, list[str], dict[str, Any]]:
    """(config, model in eval mode, anchors `[A, 4]`, class names, checkpoint state) of a run directory."""
    run = Path(run_dir)
    cfg = config_from_dict(json.loads((run / "config.json").read_text()))
    state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    classes = [str(c) for c in state["classes"]]
    det_cfg = DetectorConfig(**{**cfg.detector.__dict__, "num_classes": len(classes)})
    model = Detector(det_cfg)
    model.load_state_dict(state["model"])
    model.eval()
    anchors = make_anchors(det_cfg.anchors, cfg.input.height, cfg.input.width)
    return cfg, model, anchors, classes, state
