from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from model_export import CLASSIFICATION_LOSSES, TrainResult, train
from model_export.runs import load_run

from .conftest import tiny_config


@pytest.mark.parametrize("loss", sorted(CLASSIFICATION_LOSSES))
def test_each_classification_loss_trains_a_step(
    loss: str, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    before = torch.manual_seed(0)
    del before
    result = train(tiny_config(tiny_data, tmp_path, loss=loss, max_iterations=1, val_annotations=None))
    assert result.iterations == 1
    rec = result.history[-1]
    assert math.isfinite(rec["cls"]) and math.isfinite(rec["box"]) and rec["cls"] > 0
    assert result.evals == []


def test_giou_box_loss_trains(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    result = train(tiny_config(tiny_data, tmp_path, box_loss="giou", max_iterations=2, val_annotations=None))
    assert all(math.isfinite(r["box"]) and 0 < r["box"] <= 2 for r in result.history)


def test_bad_settings_fail_with_the_setting_named(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loss"):
        train(tiny_config(tiny_data, tmp_path, loss="nope"))
    with pytest.raises(ValueError, match="batch_size"):
        train(tiny_config(tiny_data, tmp_path, batch_size=64))
    with pytest.raises(ValueError, match="box_loss"):
        train(tiny_config(tiny_data, tmp_path, box_loss="l3", max_iterations=1))


def test_run_writes_log_plot_checkpoint_and_evaluations(tiny_run: TrainResult) -> None:
    out = tiny_run.out_dir
    assert (out / "checkpoint.pt").exists() and (out / "config.json").exists()
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines if r["type"] == "train"] == list(range(1, 9))
    evals = [r for r in lines if r["type"] == "eval"]
    assert evals and evals[-1]["iteration"] == 8
    assert [(e.iteration, e.mAP50) for e in tiny_run.evals] == [(e["iteration"], e["mAP50"]) for e in evals]
    assert all(0.0 <= e.mAP <= e.mAP50 <= 1.0 for e in tiny_run.evals)
    losses = [r["loss"] for r in lines if r["type"] == "train"]
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_resume_continues_exactly(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    straight = train(
        tiny_config(tiny_data, tmp_path / "a", epochs=2, max_iterations=None, val_annotations=None)
    )
    cfg = tiny_config(tiny_data, tmp_path / "b", epochs=2, max_iterations=None, val_annotations=None)
    cfg.stop_after_epochs = 1  # interrupted after the first epoch
    first = train(cfg)
    assert first.iterations == straight.iterations // 2
    cfg.stop_after_epochs, cfg.resume = None, True
    resumed = train(cfg)
    assert resumed.iterations == straight.iterations
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    diffs = [float((a[k].float() - b[k].float()).abs().max()) for k in a]
    assert max(diffs) < 1e-5
    _, model, _, classes, state = load_run(tmp_path / "b")
    assert int(state["iteration"]) == straight.iterations and len(classes) == 5
    assert all(torch.equal(model.state_dict()[k], b[k]) for k in b)


def test_unknown_or_missing_device_is_a_clear_error(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="device"):
        train(tiny_config(tiny_data, tmp_path, device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: 'cuda'"):
            train(tiny_config(tiny_data, tmp_path, device="cuda"))


def test_evaluating_more_often_does_not_change_training(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    """Evaluations read the model and draw no random numbers: the ablation's `--eval-every` only thins the
    curve, and scale jitter's draws come from the epoch's own generator."""
    kw = {"epochs": 2, "max_iterations": None, "jitter_prob": 0.5, "jitter_min": 0.6}
    often = train(tiny_config(tiny_data, tmp_path / "a", eval_every=1, **kw))
    never = train(tiny_config(tiny_data, tmp_path / "b", eval_every=0, val_annotations=None, **kw))
    assert len(often.evals) == 2 and not never.evals
    a, b = often.model.state_dict(), never.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
