"""Two replicas (two ``python -m service`` processes) sharing one session store, on both stores.

Appending to one session through both at once loses nothing and counts each chunk once; a replica killed
with SIGKILL right after acknowledging chunks has lost none of them.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.live import run_process

from .test_score_sessions import REL, N, X, Y

pytestmark = pytest.mark.slow

LOSSES = [{"name": "focal"}, {"name": "cross_entropy", "reduction": "sum"}]
CHUNKS = 40
BOUNDS = np.linspace(0, N, CHUNKS + 1).astype(int)


def _chunk(client: httpx.Client, sid: str, k: int) -> httpx.Response:
    a, b = BOUNDS[k], BOUNDS[k + 1]
    doc = {"predictions": X[a:b].tolist(), "labels": Y[a:b].tolist()}
    return client.put(f"/v1/score/sessions/{sid}/chunks/c{k:03d}", json=doc)


def _expected(client: httpx.Client, upto: int) -> list[float]:
    doc = {"predictions": X[:upto].tolist(), "labels": Y[:upto].tolist(), "losses": LOSSES}
    return [v["value"] for v in client.post("/v1/score", json=doc).json()["losses"]]


def test_two_replicas_appending_at_once_lose_nothing(
    store_url: str, standin_repo: Path, tmp_path: Path
) -> None:
    with (
        run_process(standin_repo, tmp_path / "a.log", score_store=store_url) as a,
        run_process(standin_repo, tmp_path / "b.log", score_store=store_url) as b,
    ):
        sid = a.client.post("/v1/score/sessions", json={"losses": LOSSES}).json()["id"]
        clients = [httpx.Client(base_url=s.http_url, timeout=60) for s in (a, b) for _ in range(4)]
        try:
            # every chunk is sent twice, once to each replica, by different threads at once; reads (which
            # fold the chunks so far into the session's state) go to both replicas meanwhile
            jobs = [
                job for k in range(CHUNKS) for job in ((clients[k % 4], k), (clients[4 + (k + 1) % 4], k))
            ]
            jobs = [
                job
                for i, send in enumerate(jobs)
                for job in ([send, (clients[(i // 8) % 8], -1)] if i % 8 == 7 else [send])
            ]

            def call(job: tuple[httpx.Client, int]) -> httpx.Response:
                if job[1] < 0:  # a read
                    return job[0].get(f"/v1/score/sessions/{sid}")
                return _chunk(job[0], sid, job[1])

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(call, jobs))
        finally:
            for c in clients:
                c.close()
        assert all(r.status_code in (200, 201) for r in answers), [
            r.text for r in answers if r.status_code >= 300
        ]
        acks = [r.json() for r, job in zip(answers, jobs, strict=True) if job[1] >= 0]
        assert len(acks) == 2 * CHUNKS and sum(a["new"] for a in acks) == CHUNKS  # each counted once
        expected = _expected(a.client, N)
        for replica in (a, b):
            summary = replica.client.get(f"/v1/score/sessions/{sid}").json()
            assert summary["chunks"] == CHUNKS and summary["elements"] == X.size
            for got, want in zip(summary["losses"], expected, strict=True):
                assert abs(got["value"] - want) <= REL * abs(want)


def test_a_replica_killed_after_acknowledging_has_lost_no_chunk(
    store_url: str, standin_repo: Path, tmp_path: Path
) -> None:
    with run_process(standin_repo, tmp_path / "b.log", score_store=store_url) as b:
        with run_process(standin_repo, tmp_path / "a.log", score_store=store_url) as a:
            sid = a.client.post("/v1/score/sessions", json={"losses": LOSSES}).json()["id"]
            acked: list[int] = []
            enough = threading.Event()

            def send() -> None:
                for k in range(CHUNKS):
                    try:
                        r = _chunk(a.client, sid, k)
                    except httpx.TransportError:
                        return  # killed under this request: not acknowledged
                    if r.status_code == 201:
                        acked.append(k)
                    if len(acked) >= 12:
                        enough.set()

            sender = threading.Thread(target=send)
            sender.start()
            assert enough.wait(60)
            assert a.process is not None
            a.process.kill()  # SIGKILL, while the sender goes on
            a.process.wait()
            sender.join(60)
        assert len(acked) >= 12 and acked == list(range(len(acked)))
        summary = b.client.get(f"/v1/score/sessions/{sid}").json()
        # each acknowledged chunk is there (at most one more, committed as the kill came, not yet answered)
        assert len(acked) <= summary["chunks"] <= len(acked) + 1
        for k in acked:
            again = _chunk(b.client, sid, k)
            assert again.status_code == 200 and again.json()["new"] is False
        for k in range(len(acked), CHUNKS):
            assert _chunk(b.client, sid, k).status_code in (200, 201)
        summary = b.client.get(f"/v1/score/sessions/{sid}").json()
        assert summary["chunks"] == CHUNKS
        for got, want in zip(summary["losses"], _expected(b.client, N), strict=True):
            assert abs(got["value"] - want) <= REL * abs(want)
