"""The core's statistics (`service.core.statistics`): the accumulator alone, and fed by a real batcher."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.core.batching import Batcher
from service.core.statistics import ModelStatistics, StageTimes, timed_call
from service.errors import Overloaded, Timeout

MS = 1_000_000  # ns


def test_an_accumulator_counts_requests_executions_and_batch_sizes() -> None:
    stats = ModelStatistics()
    times = StageTimes(0.001, 0.004, 0.002)
    stats.batch_ran(3, times)
    stats.request_succeeded(1, 0.010, 0.003, times)
    stats.request_succeeded(2, 0.012, 0.005, times)
    stats.request_failed(0.0005)
    snap = stats.snapshot()
    assert snap["inference_count"] == 3 and snap["execution_count"] == 1
    s = snap["inference_stats"]
    assert s["success"] == {"count": 2, "ns": 22 * MS}
    assert s["fail"] == {"count": 1, "ns": MS // 2}
    assert s["queue"] == {"count": 2, "ns": 8 * MS}
    # every request of a batch is charged the batch's stage times
    assert (s["compute_input"], s["compute_infer"], s["compute_output"]) == (
        {"count": 2, "ns": 2 * MS},
        {"count": 2, "ns": 8 * MS},
        {"count": 2, "ns": 4 * MS},
    )
    assert s["cache_hit"] == s["cache_miss"] == {"count": 0, "ns": 0}
    assert snap["batch_stats"] == [
        {
            "batch_size": 3,
            "compute_input": {"count": 1, "ns": MS},
            "compute_infer": {"count": 1, "ns": 4 * MS},
            "compute_output": {"count": 1, "ns": 2 * MS},
        }
    ]
    assert abs(snap["last_inference"] - time.time() * 1000) < 60_000


def test_batch_sizes_are_listed_ascending() -> None:
    stats = ModelStatistics()
    for size in (4, 1, 4, 2):
        stats.batch_ran(size, StageTimes())
    assert [(b["batch_size"], b["compute_infer"]["count"]) for b in stats.snapshot()["batch_stats"]] == [
        (1, 1),
        (2, 1),
        (4, 2),
    ]


def test_updates_from_many_threads_all_count() -> None:
    stats = ModelStatistics()
    times = StageTimes(1e-6, 1e-6, 1e-6)

    def work() -> None:
        for _ in range(2000):
            stats.request_succeeded(1, 1e-5, 1e-6, times)
            stats.batch_ran(1, times)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = stats.snapshot()
    assert snap["inference_count"] == snap["execution_count"] == 8000
    assert snap["inference_stats"]["success"]["count"] == 8000


def test_timed_call_stamps_the_call_even_when_it_raises() -> None:
    stamps: list[float] = []
    assert timed_call(stamps, sum, [1, 2]) == 3 and len(stamps) == 2 and stamps[0] <= stamps[1]
    stamps.clear()
    with pytest.raises(ZeroDivisionError):
        timed_call(stamps, lambda: 1 / 0)
    assert len(stamps) == 2


class Slow:
    """Doubles ``x`` after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        time.sleep(self.delay_s)
        return {"y": inputs["x"] * 2}


class Observer:
    def __init__(self) -> None:
        self.batches: list[tuple[int, StageTimes]] = []
        self.pending_seen: list[int] = []

    def queue_depth(self, model: str, version: str, depth: int) -> None:
        pass

    def pending(self, model: str, version: str, count: int) -> None:
        self.pending_seen.append(count)

    def batch_done(
        self, model: str, version: str, size: int, queue_s: Sequence[float], times: StageTimes
    ) -> None:
        self.batches.append((size, times))


def test_a_batcher_feeds_its_statistics_and_its_observer_the_same_times() -> None:
    async def main() -> tuple[Batcher, Observer, list[float]]:
        observer = Observer()
        b = Batcher(
            "m",
            "1",
            Slow(0.02),
            ThreadPoolExecutor(1),
            max_batch_size=8,
            max_queue_delay_s=0.05,
            queue_size=8,
            observer=observer,
        )
        b.start()
        results = await asyncio.gather(*(b.submit({"x": np.ones((2, 3))}, timeout_s=5) for _ in range(3)))
        await b.stop()
        for r in results:
            assert r.times.infer_s >= 0.02 and r.compute_s == pytest.approx(r.times.total_s, abs=1e-6)
        return b, observer, [r.queue_s for r in results]

    b, observer, queued = asyncio.run(main())
    snap = b.statistics.snapshot()
    (size, times), *rest = observer.batches
    assert rest == [] and size == 6  # one batch of the three requests
    assert snap["execution_count"] == 1 and snap["inference_count"] == 6
    (batch,) = snap["batch_stats"]
    assert batch["batch_size"] == 6 and batch["compute_infer"]["ns"] == int(times.infer_s * 1e9)
    s = snap["inference_stats"]
    assert s["compute_infer"] == {"count": 3, "ns": 3 * int(times.infer_s * 1e9)}
    assert s["queue"]["ns"] == sum(int(q * 1e9) for q in queued)
    assert s["success"]["count"] == 3 and s["success"]["ns"] >= s["queue"]["ns"] + s["compute_infer"]["ns"]
    assert max(observer.pending_seen) == 3 and observer.pending_seen[-1] == 0


def test_refused_and_timed_out_requests_count_as_failures() -> None:
    async def main() -> Batcher:
        b = Batcher(
            "m", "1", Slow(0.2), ThreadPoolExecutor(1), max_batch_size=1, max_queue_delay_s=0, queue_size=1
        )
        b.start()
        first = asyncio.ensure_future(b.submit({"x": np.ones((1, 1))}, timeout_s=5))
        await asyncio.sleep(0.05)  # running: the queue is free again
        second = asyncio.ensure_future(b.submit({"x": np.ones((1, 1))}, timeout_s=0.05))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):  # the queue of one holds the second
            await b.submit({"x": np.ones((1, 1))}, timeout_s=5)
        with pytest.raises(Timeout):
            await second
        await first
        await b.stop()
        return b

    snap = asyncio.run(main()).statistics.snapshot()
    assert snap["inference_stats"]["success"]["count"] == 1
    assert snap["inference_stats"]["fail"]["count"] == 2
    assert snap["execution_count"] == 1
