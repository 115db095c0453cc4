from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from model_export.cli import app

runner = CliRunner()


def test_generate_command_writes_a_dataset(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--out", str(tmp_path), "--num-images", "3", "--seed", "5"])
    assert result.exit_code == 0, result.output
    coco = json.loads((tmp_path / "instances.json").read_text())
    assert len(coco["images"]) == 3 and len(list((tmp_path / "images").glob("*.png"))) == 3


def test_train_command_rejects_bad_input_with_the_option_named(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["train", "--train", str(tmp_path / "missing.json")])
    assert missing.exit_code == 2 and "--train" in missing.output
    ann = tmp_path / "instances.json"
    ann.write_text("{}")
    bad_json = runner.invoke(app, ["train", "--train", str(ann), "--loss-params", "{oops"])
    assert bad_json.exit_code == 2 and "--loss-params" in bad_json.output
    bad_loss = runner.invoke(app, ["train", "--train", str(ann), "--loss", "mse"])
    assert bad_loss.exit_code == 2 and "loss" in bad_loss.output


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("generate", "train", "evaluate", "export", "default-model"):
        assert cmd in result.output
