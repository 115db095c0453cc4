"""Small generated Parquet datasets, and a real local Dask cluster (two worker processes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

RNG = np.random.default_rng(21)
#: binary/multilabel: predictions and labels as fixed-size lists of 3, in two files of three row groups
BX = RNG.normal(-1.0, 2.0, (3000, 3))
BY = (RNG.random((3000, 3)) < 0.2).astype(np.float64)
#: multiclass: one column per class p0..p3 and a class-index column (some ignored)
MX = RNG.normal(0.0, 1.5, (2500, 4))
MY = RNG.integers(0, 4, 2500)
MY[::13] = -1


def fixed_list(values: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


@pytest.fixture(scope="session")
def binary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("binary")
    for i, (a, b) in enumerate([(0, 1700), (1700, 3000)]):
        table = pa.table({"logits": fixed_list(BX[a:b]), "targets": fixed_list(BY[a:b])})
        pq.write_table(table, root / f"part{i}.parquet", row_group_size=600)
    return root


@pytest.fixture(scope="session")
def multiclass_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("multiclass") / "data.parquet"
    columns = {f"p{c}": pa.array(MX[:, c]) for c in range(4)}
    pq.write_table(pa.table({**columns, "label": pa.array(MY)}), path, row_group_size=700)
    return path


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        yield client
