"""`python -m model_export ablate --quick`: every setting, every file, same seed, same table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_export.ablation.settings import SETTINGS
from model_export.cli import app

FILES = (
    "ablation.md",
    "results.json",
    "anatomy.json",
    "ap_vs_iterations.png",
    "figure1.png",
    "anatomy.png",
    "anatomy_by_gamma.png",
)


def _table_rows(md: str) -> list[list[str]]:
    """The table's data rows with the wall-time column dropped (the one column a rerun may change)."""
    lines = [line for line in md.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    wall = header.index("wall s")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return [row[:wall] + row[wall + 1 :] for row in rows]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ablate")
    res = CliRunner().invoke(
        app, ["ablate", "--quick", "--out", str(root / "out"), "--work-dir", str(root / "work")]
    )
    assert res.exit_code == 0, res.output
    return root


@pytest.mark.slow
def test_quick_writes_every_file_and_a_row_per_setting(quick_run: Path):
    out = quick_run / "out"
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    md = (out / "ablation.md").read_text()
    rows = _table_rows(md)
    assert len(rows) == len(SETTINGS) == 13
    # a smoke run says so and concludes nothing from its APs of about 0
    assert "smoke run" in md and "draws no conclusions" in md
    assert "What the numbers say" not in md and "beats" not in md and "behind" not in md
    results = json.loads((out / "results.json").read_text())["results"]
    assert [r["setting"]["key"] for r in results] == [s.key for s in SETTINGS]
    for r in results:
        assert r["iterations"] == 6 and len(r["evals"]) == 3
        assert all(0.0 <= e["ap"] <= 1.0 for e in r["evals"])
    anatomy = json.loads((out / "anatomy.json").read_text())
    assert len(anatomy["models"]) == 2  # the best CE model and the focal gamma 2 model
    for a in anatomy["models"].values():
        assert a["negatives"] > 10 * a["positives"] > 0
        assert a["cumulative_negative"][-1] == pytest.approx(1.0)
    assert sorted(anatomy["focal_model_by_gamma"]) == ["0", "0.5", "1", "2"]


@pytest.mark.slow
def test_same_seed_same_table_in_other_processes(quick_run: Path):
    """Two settings again, trained in two worker processes: the same numbers as the in-process run."""
    out2 = quick_run / "out2"
    keys = ["fl_g2_a0.25", "hard_m0.6"]
    args = ["ablate", "--quick", "--out", str(out2), "--work-dir", str(quick_run / "work2"), "--workers", "2"]
    for k in keys:
        args += ["--only", k]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    first = {row[0] + row[1]: row for row in _table_rows((quick_run / "out" / "ablation.md").read_text())}
    second = _table_rows((out2 / "ablation.md").read_text())
    assert len(second) == 2
    for row in second:
        assert row == first[row[0] + row[1]]
    a = {
        r["setting"]["key"]: r
        for r in json.loads((quick_run / "out" / "results.json").read_text())["results"]
    }
    for r in json.loads((out2 / "results.json").read_text())["results"]:
        assert r["evals"] == a[r["setting"]["key"]]["evals"]
        assert r["final_train_loss"] == a[r["setting"]["key"]]["final_train_loss"]


def test_unknown_setting_is_a_clear_error(tmp_path: Path):
    res = CliRunner().invoke(app, ["ablate", "--quick", "--only", "nope", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "--only" in res.output and "nope" in res.output
    assert not (tmp_path / "ablation.md").exists()


def test_workers_must_be_positive(tmp_path: Path):
    res = CliRunner().invoke(app, ["ablate", "--quick", "--workers", "0", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--workers" in res.output


@pytest.mark.slow
def test_quick_defaults_stay_away_from_the_committed_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["ablate", "--quick", "--only", "soft_m0.5_k1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "runs" / "ablation-quick" / "out" / "ablation.md").exists()
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_reuse_picks_up_cached_settings_without_training(quick_run: Path):
    out3 = quick_run / "out3"
    args = ["ablate", "--quick", "--reuse", "--out", str(out3), "--work-dir", str(quick_run / "work")]
    res = CliRunner().invoke(app, [*args, "--only", "hard_m0.6", "--only", "ce_a0.5"])
    assert res.exit_code == 0, res.output
    assert res.output.count("reused") == 2
    first = json.loads((quick_run / "out" / "results.json").read_text())["results"]
    again = json.loads((out3 / "results.json").read_text())["results"]
    by_key = {r["setting"]["key"]: r for r in first}
    assert [r["setting"]["key"] for r in again] == ["hard_m0.6", "ce_a0.5"]
    for r in again:
        assert r == by_key[r["setting"]["key"]]  # the cached numbers, timing included


def test_quick_and_harder_exclude_each_other(tmp_path: Path):
    res = CliRunner().invoke(app, ["ablate", "--quick", "--harder", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--harder" in res.output
