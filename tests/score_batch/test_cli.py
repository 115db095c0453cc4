"""``focalserve-score`` as a user runs it: a subprocess on generated Parquet, its own local Dask cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import losses
from service.rest.routers.score_sessions import SessionSummary
from tests.live import ROOT

from .conftest import BX, BY


def focalserve_score(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "score_batch", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)


def test_the_command_writes_rows_and_a_summary_in_the_session_schema(
    binary_dir: Path, tmp_path: Path
) -> None:
    out, summary_path = tmp_path / "scores.parquet", tmp_path / "summary.json"
    done = focalserve_score(
        str(binary_dir / "*.parquet"),
        "--predictions", "logits", "--labels", "targets",
        "--losses", "focal,cross_entropy", "--set", "focal.gamma=1.5", "--set", "cross_entropy.reduction=sum",
        "--calibration-bins", "8", "--workers", "2", "--rows-per-task", "700",
        "--out", str(out), "--summary", str(summary_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(summary_path.read_text())
    SessionSummary.model_validate(summary)  # the keys and types of GET /v1/score/sessions/{id}
    assert summary["rows"] == 3000 and summary["elements"] == BX.size
    focal = float(losses.focal_loss(BX, BY, gamma=1.5))
    ce = float(losses.cross_entropy(BX, BY, kind="binary", reduction="sum"))
    values = [v["value"] for v in summary["losses"]]
    assert abs(values[0] - focal) <= 1e-12 * focal and abs(values[1] - ce) <= 1e-12 * ce
    assert summary["calibration"]["bins"] == 8
    assert pq.read_table(out).num_rows == 3000 and len(list(out.glob("part-*.parquet"))) == 4
    assert summary["chunks"] == 4  # whole row groups of 600: 1200 + 500 rows, then 1200 + 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--predictions", "nope", "--labels", "targets"], "column 'nope' is not in the input"),
        (["--predictions", "logits", "--labels", "targets", "--losses", "bogus"], "unknown loss"),
        (["--predictions", "logits", "--labels", "targets", "--set", "gamma=2"], "LOSS.PARAM=VALUE"),
    ],
)
def test_bad_arguments_are_named(binary_dir: Path, args: list[str], message: str) -> None:
    done = focalserve_score(str(binary_dir), "--workers", "1", "--no-progress", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_the_console_script_is_the_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["focalserve-score"].partition(":")
    assert getattr(import_module(module), name) is import_module("score_batch.cli").main
