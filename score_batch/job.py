"""The batch job: Parquet fragments scored as Dask tasks, their mergeable states merged into one summary.

`plan` cuts the input (files, directories, globs) into fragments of whole row groups, about
``rows_per_task`` rows each. `score_fragment` (one task) reads its fragment's columns with pyarrow, computes
the mergeable state (`service.core.scoring.chunk_state`, the definition sessions use) and, with an output
directory, writes the fragment's per-row values (and gradients) to ``part-<index>.parquet`` there: a retried
task rewrites the same file. `run` submits the tasks to a Dask client (or, without one, runs them one after
the other in this process: the plain numpy reference) and merges the states as they complete; the summary
has the keys of a scoring session's result.
"""

from __future__ import annotations

import glob
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import losses
from service.core.scoring import ScoreOptions, chunk_state, score_spec

from .columns import table_arrays

__all__ = ["Fragment", "Job", "expand_inputs", "plan", "run", "score_fragment"]


@dataclass(frozen=True)
class Job:
    """What every task needs: the options (JSON of `ScoreOptions`), the columns, where rows go."""

    options_json: str
    predictions: tuple[str, ...]
    labels: tuple[str, ...]
    out_dir: str | None = None
    gradient: bool = False

    @property
    def options(self) -> ScoreOptions:
        return ScoreOptions.model_validate_json(self.options_json)


@dataclass(frozen=True)
class Fragment:
    index: int
    path: str
    row_groups: tuple[int, ...]
    rows: int


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Parquet files named by ``inputs``: files, directories (every ``*.parquet`` below), globs."""
    found: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found += sorted(glob.glob(os.path.join(item, "**", "*.parquet"), recursive=True))
        elif glob.has_magic(item):
            found += sorted(glob.glob(item, recursive=True))
        elif os.path.isfile(item):
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file, directory or matching glob")
    if not found:
        raise FileNotFoundError(f"no Parquet files in {list(inputs)}")
    return found


def plan(paths: Sequence[str], rows_per_task: int) -> list[Fragment]:
    """Fragments of whole row groups, in input order, about ``rows_per_task`` rows each."""
    fragments: list[Fragment] = []
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        groups: list[int] = []
        rows = 0
        for g in range(meta.num_row_groups):
            groups.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= rows_per_task:
                fragments.append(Fragment(len(fragments), path, tuple(groups), rows))
                groups, rows = [], 0
        if groups:
            fragments.append(Fragment(len(fragments), path, tuple(groups), rows))
    return fragments


def _column(values: np.ndarray[Any, Any]) -> pa.Array:
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float64).reshape(-1))
    if values.ndim == 1:
        return flat
    width = int(np.prod(values.shape[1:]))
    return pa.FixedSizeListArray.from_arrays(flat, width)


def score_fragment(fragment: Fragment, job: Job) -> bytes:
    """One task: the fragment's mergeable state (JSON bytes); its rows written where the job says."""
    needed = list(dict.fromkeys([*job.predictions, *job.labels]))
    table = pq.ParquetFile(fragment.path).read_row_groups(list(fragment.row_groups), columns=needed)
    x, y = table_arrays(table, job.predictions, job.labels)
    options = job.options
    per_sample: list[np.ndarray[Any, Any]] = []
    state = chunk_state(x, y, options, per_sample=per_sample)
    if job.out_dir is not None:
        columns: dict[str, pa.Array] = {}
        names = [spec.name for spec in options.losses]
        for i, (spec, values) in enumerate(zip(options.losses, per_sample, strict=True)):
            key = spec.name if names.count(spec.name) == 1 else f"{spec.name}_{i}"
            columns[key] = _column(values)
            if job.gradient:
                grad = losses.loss_gradient(
                    spec.name, x, y, kind=options.kind, from_logits=options.from_logits, **spec.params()
                )
                columns[f"{key}_gradient"] = _column(np.asarray(grad))
        target = Path(job.out_dir) / f"part-{fragment.index:05d}.parquet"
        tmp = target.with_suffix(".tmp")
        pq.write_table(pa.table(columns), tmp)
        os.replace(tmp, target)  # whole files only, also when a task is retried
    return state.to_bytes()


Progress = Callable[[int], None]


def run(
    inputs: Sequence[str],
    job: Job,
    *,
    client: Any = None,
    rows_per_task: int = 1_000_000,
    on_rows: Progress | None = None,
) -> dict[str, Any]:
    """Score ``inputs``; the summary (a session result's keys, plus ``rows`` and ``input``).

    ``client``: a ``distributed.Client`` (tasks on its workers); None: every fragment in this process.
    ``on_rows`` is called with the rows of each fragment done.
    """
    paths = expand_inputs(inputs)
    fragments = plan(paths, rows_per_task)
    if job.out_dir is not None:
        Path(job.out_dir).mkdir(parents=True, exist_ok=True)
    merged = losses.ScoreState(score_spec(job.options))
    if client is None:
        for fragment in fragments:
            merged = merged.merge(losses.ScoreState.from_bytes(score_fragment(fragment, job)))
            if on_rows is not None:
                on_rows(fragment.rows)
    else:
        from distributed import as_completed

        run_id = uuid.uuid4().hex[:12]
        keys = [f"score-{run_id}-{f.index}" for f in fragments]
        futures = client.map(score_fragment, fragments, job=job, key=keys)
        rows_of = {future.key: f.rows for future, f in zip(futures, fragments, strict=True)}
        for future in as_completed(futures):
            merged = merged.merge(losses.ScoreState.from_bytes(future.result()))
            if on_rows is not None:
                on_rows(rows_of[future.key])
    return {
        "id": uuid.uuid4().hex,
        "created": time.time(),
        **merged.result(),
        "rows": sum(f.rows for f in fragments),
        "input": paths,
    }
