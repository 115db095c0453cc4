"""Shared fixtures: a tiny synthetic dataset and one briefly trained run (session-scoped, built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_export import TrainConfig, TrainResult, generate, train


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shapes")
    return {"train": generate(root / "train", 16, seed=0), "val": generate(root / "val", 6, seed=1)}


def tiny_config(data: dict[str, Path], out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = {
        "train_annotations": str(data["train"]),
        "val_annotations": str(data["val"]),
        "out_dir": str(out),
        "batch_size": 4,
        "epochs": 2,
        "max_iterations": 6,
        "warmup_iterations": 2,
        "log_every": 1,
        "progress": False,
        "threads": 1,
    }
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_run(tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """Six optimiser steps at a high learning rate: enough for some detections above the score threshold."""
    out = tmp_path_factory.mktemp("run")
    return train(tiny_config(tiny_data, out, lr=1e-2, max_iterations=8))
