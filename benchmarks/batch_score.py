"""Scoring at scale: the batch command on Dask against one numpy process, and scoring-session chunks/s.

    python benchmarks/batch_score.py [--rows 10000000] [--repeats 3]

1. Batch: a Parquet file of ``--rows`` rows (binary: a float32 logit and a 0/1 label per row, 1% positives,
   row groups of 1M). The reference is one process doing the same work with no engine: read each row group,
   score focal + cross-entropy (mergeable state and per-row values), write the rows (`score_batch.run`
   without a client). Then the same job on a local Dask cluster of 1 and of 2 worker processes (the cluster
   started once per size, its start reported apart). Rows/s are medians of ``--repeats`` runs; the ratio is
   over the reference's median.
2. Sessions: a ``python -m service`` with its store in SQLite, then in PostgreSQL (a real server, as the
   tests start it); 8 threads PUT npz chunks of ``--chunk-elements`` to one session. Chunks/s (median of
   rounds) and the service's CPU-ms per chunk from /proc.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from score_batch import Job, run  # noqa: E402
from service.core.scoring import ScoreOptions  # noqa: E402

LOSSES = [{"name": "focal"}, {"name": "cross_entropy"}]


def write_dataset(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, pa.schema([("logit", pa.float32()), ("label", pa.float32())])) as writer:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            y = (rng.random(n) < 0.01).astype(np.float32)
            x = (rng.standard_normal(n) * 3 + 2 * y).astype(np.float32)
            writer.write_table(pa.table({"logit": x, "label": y}))


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def batch_rows(rows: int, repeats: int) -> None:
    options = ScoreOptions.model_validate({"losses": LOSSES})
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.parquet"
        write_dataset(data, rows)
        counter = iter(range(10**6))

        def job() -> Job:
            out = Path(tmp) / f"out-{next(counter)}"
            return Job(options.model_dump_json(exclude_unset=True), ("logit",), ("label",), str(out))

        reference = statistics.median(timed(lambda: run([str(data)], job())) for _ in range(repeats))
        print(f"\nbatch: {rows:,} rows, focal + cross_entropy, per-row values written; medians of {repeats}")
        print(f"{'row':<38}{'rows/s':>14}{'ratio':>8}")
        print(f"{'one numpy process (no engine)':<38}{rows / reference:>14,.0f}{1.0:>8.2f}")
        from distributed import Client, LocalCluster

        for workers in (1, 2):
            start = time.perf_counter()
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            with cluster, Client(cluster) as client:
                client.run(__import__, "score_batch.job")  # imports in the workers, before the clock
                started = time.perf_counter() - start
                seconds = statistics.median(
                    timed(lambda: run([str(data)], job(), client=client)) for _ in range(repeats)
                )
            label = f"dask, {workers} worker{'s' if workers > 1 else ''} (start {started:.1f} s apart)"
            print(f"{label:<38}{rows / seconds:>14,.0f}{reference / seconds:>8.2f}")


def _cpu_s(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_rows(chunk_elements: int, chunks: int, rounds: int) -> None:
    from tests.live import run_process
    from tests.pg import new_database, running_postgres
    from tests.service.standin import write_repository

    rng = np.random.default_rng(1)
    x = (rng.standard_normal(chunk_elements) * 3).astype(np.float32)
    y = (rng.random(chunk_elements) < 0.01).astype(np.float32)
    buf = io.BytesIO()
    np.savez(buf, predictions=x, labels=y)
    body = buf.getvalue()
    print(f"\nsessions: PUT npz chunks of {chunk_elements:,} elements, 8 at once, {chunks} a round")
    print(f"{'store':<14}{'chunks/s':>10}{'elements/s':>14}{'server CPU-ms/chunk':>22}")
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as pg:
        repo = write_repository(Path(tmp) / "repo", versions=(1,))
        stores = {"sqlite": f"sqlite:///{tmp}/sessions.sqlite3", "postgresql": new_database(pg)}
        for name, url in stores.items():
            with run_process(repo, Path(tmp) / f"{name}.log", score_store=url) as live:
                import httpx

                assert live.process is not None
                rates, cpu = [], []
                for _ in range(rounds):
                    sid = live.client.post("/v1/score/sessions", json={"losses": LOSSES}).json()["id"]
                    clients = [httpx.Client(base_url=live.http_url, timeout=60) for _ in range(8)]
                    lock, ids = threading.Lock(), iter(range(chunks))

                    def send(client: httpx.Client, lock: Any = lock, ids: Any = ids, sid: str = sid) -> None:
                        while True:
                            with lock:
                                k = next(ids, None)
                            if k is None:
                                return
                            r = client.put(
                                f"/v1/score/sessions/{sid}/chunks/{k}",
                                content=body,
                                headers={"content-type": "application/x-npz"},
                            )
                            assert r.status_code == 201, r.text

                    cpu0, start = _cpu_s(live.process.pid), time.perf_counter()
                    with ThreadPoolExecutor(8) as pool:
                        list(pool.map(send, clients))
                    seconds = time.perf_counter() - start
                    cpu.append((_cpu_s(live.process.pid) - cpu0) * 1000 / chunks)
                    rates.append(chunks / seconds)
                    for c in clients:
                        c.close()
                    summary = live.client.get(f"/v1/score/sessions/{sid}").json()
                    assert summary["chunks"] == chunks
                rate = statistics.median(rates)
                print(
                    f"{name:<14}{rate:>10,.1f}{rate * chunk_elements:>14,.0f}{statistics.median(cpu):>22.1f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-elements", type=int, default=100_000)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-sessions", action="store_true")
    ns = parser.parse_args()
    if not ns.skip_batch:
        batch_rows(ns.rows, ns.repeats)
    if not ns.skip_sessions:
        session_rows(ns.chunk_elements, ns.chunks, ns.rounds)


if __name__ == "__main__":
    main()
