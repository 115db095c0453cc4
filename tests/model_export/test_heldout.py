"""The held-out table's splits (the README's rows) and the default model's training mix that covers them; the
table's script runs end to end through the real service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model_export.heldout import HELDOUT_SPLITS, TRAIN_MIX

ROOT = Path(__file__).resolve().parents[2]


def test_the_rows_are_the_issues_splits() -> None:
    rows = {
        (c.width, c.height, c.min_objects, c.max_objects, c.min_size, c.max_size)
        for c in HELDOUT_SPLITS.values()
    }
    assert rows == {
        (128, 128, 4, 12, 12, 36),
        (300, 200, 4, 12, 12, 36),
        (200, 300, 4, 12, 12, 36),
        (256, 256, 16, 48, 12, 36),
        (128, 128, 15, 30, 12, 36),
        (300, 200, 4, 12, 28, 83),  # the objects scaled up 2.3x
    }


def test_the_training_mix_covers_every_rows_size_density_and_object_size() -> None:
    parts = TRAIN_MIX.components
    for name, row in HELDOUT_SPLITS.items():
        assert any((c.width, c.height) == (row.width, row.height) for c in parts), name
        assert min(c.min_objects for c in parts) <= row.min_objects, name
        assert max(c.max_objects for c in parts) >= row.max_objects, name
        assert any(c.min_size <= row.min_size and c.max_size >= row.max_size for c in parts), name
    assert {c.width > c.height for c in parts} == {True, False}  # landscape and portrait


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "models" / "detector" / "1").is_dir(), reason="no default model")
def test_the_table_script_scores_every_row_through_the_service(tmp_path: Path) -> None:
    out = tmp_path / "table.json"
    cmd = [sys.executable, "benchmarks/heldout.py", "--images", "2", "--json", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    table = json.loads(out.read_text())
    assert [r["name"] for r in table["rows"]] == list(HELDOUT_SPLITS)
    assert [r["seed"] for r in table["rows"]] == list(range(20, 26))
    for row in table["rows"]:
        assert 0.0 <= row["mAP"] <= row["mAP50"] <= 1.0 and 0 <= row["capped"] <= 2
    assert any(row["mAP50"] > 0 for row in table["rows"])  # detections land, in image pixels
