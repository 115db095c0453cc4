"""The batch job on a real local Dask cluster: the merged summary is the one-shot score of all rows."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import losses
from score_batch import Job, expand_inputs, plan, run
from service.core.scoring import ScoreOptions, score

from .conftest import BX, BY, MX, MY

REL = 1e-12
BINARY = ScoreOptions.model_validate(
    {
        "losses": [{"name": "focal", "gamma": 2.0}, {"name": "cross_entropy", "reduction": "sum"}],
        "per_class": True,
        "calibration_bins": 10,
        "anatomy": True,
    }
)
MULTICLASS = ScoreOptions.model_validate(
    {
        "kind": "multiclass",
        "losses": [{"name": "cross_entropy", "ignore_index": -1, "weight": [1.0, 2.0, 1.0, 0.5]}],
        "per_class": True,
    }
)


def _job(options: ScoreOptions, predictions, labels, out=None, gradient=False) -> Job:
    return Job(options.model_dump_json(exclude_unset=True), tuple(predictions), tuple(labels), out, gradient)


def _assert_one_shot(summary: dict, x: np.ndarray, y: np.ndarray, options: ScoreOptions) -> None:
    one = score(x, y, options).to_dict(arrays=False)
    for got, want in zip(summary["losses"], one["losses"], strict=True):
        assert abs(got["value"] - want["value"]) <= REL * abs(want["value"]), (got, want)
    for row, ref in zip(summary.get("per_class", []), one.get("per_class", []), strict=True):
        for a, b in zip(row["losses"], ref["losses"], strict=True):
            assert abs(a["sum"] - b["sum"]) <= REL * abs(b["sum"])
    if "calibration" in one:
        assert (
            abs(summary["calibration"]["ece"] - one["calibration"]["ece"]) <= REL * one["calibration"]["ece"]
        )


def test_fragments_are_whole_row_groups_in_input_order(binary_dir) -> None:
    paths = expand_inputs([str(binary_dir)])
    assert [p.rsplit("/", 1)[1] for p in paths] == ["part0.parquet", "part1.parquet"]
    fragments = plan(paths, rows_per_task=1000)
    assert [(f.path == paths[1], f.row_groups, f.rows) for f in fragments] == [
        (False, (0, 1), 1200),
        (False, (2,), 500),
        (True, (0, 1), 1200),
        (True, (2,), 100),
    ]
    assert expand_inputs([str(binary_dir / "*.parquet")]) == paths
    with pytest.raises(FileNotFoundError):
        expand_inputs([str(binary_dir / "nope.parquet")])


@pytest.mark.parametrize("engine", ["dask", "in-process"])
def test_a_binary_dataset_gives_the_one_shot_summary_and_per_row_values(
    engine, binary_dir, tmp_path, dask_client
) -> None:
    out = tmp_path / "rows.parquet"
    job = _job(BINARY, ["logits"], ["targets"], str(out), gradient=True)
    client = dask_client if engine == "dask" else None
    summary = run([str(binary_dir)], job, client=client, rows_per_task=1000)
    assert (summary["rows"], summary["elements"], summary["chunks"]) == (3000, BX.size, 4)
    _assert_one_shot(summary, BX, BY, BINARY)
    anatomy = losses.loss_anatomy(BX, BY, loss="focal", gamma=2.0)
    assert abs(summary["anatomy"]["share_easy"] - anatomy.share_easy) <= REL * anatomy.share_easy
    table = pq.read_table(out)  # the dataset directory, parts in input order
    focal = np.asarray(losses.focal_loss(BX, BY, gamma=2.0, reduction="none"))
    np.testing.assert_array_equal(np.stack(table.column("focal").to_numpy(zero_copy_only=False)), focal)
    grad = np.asarray(losses.loss_gradient("cross_entropy", BX, BY, kind="binary", reduction="sum"))
    got = np.stack(table.column("cross_entropy_gradient").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(got, grad, rtol=1e-12, atol=0)


def test_a_multiclass_dataset_with_a_column_per_class(multiclass_file, dask_client) -> None:
    job = _job(MULTICLASS, ["p0", "p1", "p2", "p3"], ["label"])
    summary = run([str(multiclass_file)], job, client=dask_client, rows_per_task=500)
    assert summary["chunks"] == 4 and summary["rows"] == 2500
    _assert_one_shot(summary, MX, MY, MULTICLASS)
    assert sum(r["count"] for r in summary["per_class"]) == int((MY != -1).sum())
