"""The batch policy (pure) and the batcher's behaviour on a real event loop with a plain numpy model."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor

import numpy as np
import pytest

from service.core.batch_plan import BatchPlan, plan_batch, signature_of
from service.core.batching import Batcher, BatchResult, RunFn
from service.errors import InternalError, InvalidInput, Overloaded, Timeout, Unavailable

SIG = ("a",)


def test_plan_waits_for_company_until_the_delay() -> None:
    assert plan_batch([1], [SIG], 10.0, 10.001, max_batch_size=8, max_queue_delay_s=0.005) == BatchPlan(
        0, pytest.approx(0.004)
    )


def test_plan_runs_when_the_oldest_waited_long_enough() -> None:
    assert plan_batch([1, 2], [SIG, SIG], 10.0, 10.006, max_batch_size=8, max_queue_delay_s=0.005).take == 2


def test_plan_runs_a_full_batch_at_once() -> None:
    assert plan_batch([4, 4], [SIG, SIG], 10.0, 10.0, max_batch_size=8, max_queue_delay_s=1).take == 2


def test_plan_stops_before_overflowing_and_runs_now() -> None:
    plan = plan_batch([3, 3, 3], [SIG] * 3, 10.0, 10.0, max_batch_size=8, max_queue_delay_s=1)
    assert plan == BatchPlan(2, 0.0)


def test_plan_only_joins_equal_signatures() -> None:
    plan = plan_batch([1, 1, 1], [SIG, ("b",), SIG], 10.0, 10.0, max_batch_size=8, max_queue_delay_s=1)
    assert plan.take == 1  # the next request cannot join: run what is compatible now


def test_plan_flush_and_empty() -> None:
    assert plan_batch([1], [SIG], 10.0, 10.0, max_batch_size=8, max_queue_delay_s=5, flush=True).take == 1
    assert plan_batch([], [], 0.0, 1.0, max_batch_size=8, max_queue_delay_s=5) == BatchPlan(0, None)


def test_signature_ignores_batch_dimension() -> None:
    a = {"x": np.zeros((2, 3), np.float32)}
    b = {"x": np.zeros((5, 3), np.float32)}
    c = {"x": np.zeros((5, 4), np.float32)}
    assert signature_of(a) == signature_of(b) != signature_of(c)


class Recorder:
    """A model: doubles ``x``; records the batch sizes it saw; optionally blocks or misbehaves."""

    def __init__(self, *, bad_rows: bool = False, raise_on: int | None = None) -> None:
        self.sizes: list[int] = []
        self.bad_rows, self.raise_on = bad_rows, raise_on
        self.gate = threading.Event()
        self.gate.set()
        self.entered = 0  # calls that started (before the gate)
        self._lock = threading.Lock()

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            self.entered += 1
        self.gate.wait(5)
        x = inputs["x"]
        self.sizes.append(len(x))
        if self.raise_on is not None and len(x) >= self.raise_on:
            raise RuntimeError("boom")
        y = x * 2
        return {"y": y[:1] if self.bad_rows else y}


def run(coro):  # a fresh loop per test
    return asyncio.run(coro)


async def _batcher(model: RunFn, executor: Executor | None = None, **kw) -> Batcher:
    b = Batcher(
        "m",
        "1",
        model,
        executor or ThreadPoolExecutor(1),
        **({"max_batch_size": 8, "max_queue_delay_s": 0.05, "queue_size": 64} | kw),
    )
    b.start()
    return b


def test_concurrent_requests_share_one_batch_and_get_their_own_rows() -> None:
    async def main() -> None:
        model = Recorder()
        b = await _batcher(model, max_queue_delay_s=0.2)
        xs = [np.full((1 + i % 2, 3), i, np.float32) for i in range(4)]  # 1, 2, 1, 2 rows
        results = await asyncio.gather(*(b.submit({"x": x}, timeout_s=5) for x in xs))
        await b.stop()
        assert model.sizes == [6]
        for x, r in zip(xs, results, strict=True):
            np.testing.assert_array_equal(r.outputs["y"], x * 2)
            assert r.batch_size == 6

    run(main())


def test_full_batch_runs_before_the_delay() -> None:
    async def main() -> None:
        model = Recorder()
        b = await _batcher(model, max_batch_size=4, max_queue_delay_s=30)
        started = time.monotonic()
        await asyncio.gather(*(b.submit({"x": np.ones((2, 1))}, timeout_s=5) for _ in range(2)))
        assert time.monotonic() - started < 10  # did not wait the 30 s delay
        await b.stop()
        assert model.sizes == [4]

    run(main())


def test_failed_batch_fails_every_request_with_the_cause() -> None:
    async def main() -> None:
        b = await _batcher(Recorder(raise_on=2), max_queue_delay_s=0.2)
        outcomes = await asyncio.gather(
            *(b.submit({"x": np.ones((1, 2))}, timeout_s=5) for _ in range(3)), return_exceptions=True
        )
        await b.stop()
        assert all(isinstance(o, InternalError) for o in outcomes)
        assert all("RuntimeError: boom" in o.detail and "batch of 3 rows" in o.detail for o in outcomes)

    run(main())


def test_outputs_with_the_wrong_batch_dimension_fail_the_batch() -> None:
    async def main() -> None:
        b = await _batcher(Recorder(bad_rows=True), max_queue_delay_s=0.2)
        outcomes = await asyncio.gather(
            *(b.submit({"x": np.ones((1, 2))}, timeout_s=5) for _ in range(2)), return_exceptions=True
        )
        await b.stop()
        assert all(isinstance(o, InternalError) and "batch dimension 1" in o.detail for o in outcomes)

    run(main())


def test_full_queue_is_refused_at_once() -> None:
    async def main() -> None:
        b = await _batcher(Recorder(), queue_size=1, max_queue_delay_s=0.3)
        first = asyncio.ensure_future(b.submit({"x": np.ones((1, 1))}, timeout_s=5))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as err:
            await b.submit({"x": np.ones((1, 1))}, timeout_s=5)
        assert err.value.headers()["Retry-After"].isdigit()
        assert (await first).batch_size == 1
        await b.stop()

    run(main())


def test_timeout_and_abandoned_requests_are_skipped() -> None:
    async def main() -> None:
        model = Recorder()
        b = await _batcher(model, max_queue_delay_s=0.3)
        with pytest.raises(Timeout):
            await b.submit({"x": np.ones((1, 1))}, timeout_s=0.05)
        await asyncio.sleep(0.4)
        assert model.sizes == []  # the timed-out request never ran
        await b.stop()

    run(main())


def test_bad_requests_and_shutdown() -> None:
    async def main() -> None:
        b = await _batcher(Recorder(), max_batch_size=2)
        with pytest.raises(InvalidInput, match="max batch size 2"):
            await b.submit({"x": np.ones((3, 1))}, timeout_s=1)
        with pytest.raises(InvalidInput):
            await b.submit({"x": np.ones((2, 1)), "z": np.ones((1, 1))}, timeout_s=1)
        with pytest.raises(InvalidInput):
            await b.submit({}, timeout_s=1)
        await b.stop()
        with pytest.raises(Unavailable):
            await b.submit({"x": np.ones((1, 1))}, timeout_s=1)

    run(main())


def test_stop_runs_what_is_queued() -> None:
    async def main() -> None:
        model = Recorder()
        b = await _batcher(model, max_queue_delay_s=30)
        pending = asyncio.ensure_future(b.submit({"x": np.ones((1, 1))}, timeout_s=60))
        await asyncio.sleep(0.01)
        await b.stop(grace_s=5)
        assert (await pending).outputs["y"].tolist() == [[2.0]]

    run(main())


class Overlap:
    """A model that records when each call runs and how many run at once. Every call waits at a two-party
    barrier, so a call succeeds only if another call reaches the barrier while it waits there; else the
    barrier breaks (``BrokenBarrierError``) and its batch fails."""

    def __init__(self, barrier_timeout_s: float) -> None:
        self.barrier = threading.Barrier(2, timeout=barrier_timeout_s)
        self.running = 0
        self.most = 0  # the most calls running at once
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.monotonic()
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.barrier.wait()
        finally:
            with self._lock:
                self.running -= 1
                self.intervals.append((started, time.monotonic()))
        return {"y": inputs["x"] * 2}


def _two_single_row_requests(b: Batcher) -> list[asyncio.Future[BatchResult]]:
    return [
        asyncio.ensure_future(b.submit({"x": np.full((1, 1), i, np.float32)}, timeout_s=30)) for i in range(2)
    ]


def test_two_instances_run_two_batches_at_once() -> None:
    async def main() -> None:
        model = Overlap(barrier_timeout_s=10)
        with ThreadPoolExecutor(2) as pool:
            b = await _batcher(model, pool, max_batch_size=1, max_queue_delay_s=0, instances=2)
            results = await asyncio.gather(*_two_single_row_requests(b))
            await b.stop()
        # both calls passed the barrier: each was running while the other reached it
        assert [r.outputs["y"].tolist() for r in results] == [[[0.0]], [[2.0]]]
        assert [r.batch_size for r in results] == [1, 1]
        assert model.most == 2
        (start_a, end_a), (start_b, end_b) = model.intervals
        assert max(start_a, start_b) < min(end_a, end_b)  # the two intervals overlap

    run(main())


def test_one_instance_runs_one_batch_at_a_time() -> None:
    async def main() -> None:
        model = Overlap(barrier_timeout_s=0.3)
        with ThreadPoolExecutor(2) as pool:  # threads to spare: only `instances` limits the batches
            b = await _batcher(model, pool, max_batch_size=1, max_queue_delay_s=0, instances=1)
            outcomes = await asyncio.gather(*_two_single_row_requests(b), return_exceptions=True)
            await b.stop()
        # the first call waited at the barrier alone until it broke; the second came only after it
        assert all(isinstance(o, InternalError) and "BrokenBarrierError" in o.detail for o in outcomes)
        assert model.most == 1
        (_, first_end), (second_start, _) = sorted(model.intervals)
        assert first_end <= second_start  # one after the other, no overlap

    run(main())


def test_while_every_instance_runs_the_next_request_waits() -> None:
    async def main() -> None:
        model = Recorder()
        model.gate.clear()  # the batches block until released
        with ThreadPoolExecutor(2) as pool:
            b = await _batcher(model, pool, max_batch_size=1, max_queue_delay_s=0, instances=2)
            pending = [
                asyncio.ensure_future(b.submit({"x": np.ones((1, 1))}, timeout_s=10)) for _ in range(3)
            ]
            deadline = time.monotonic() + 5
            while model.entered < 2:  # both instances have taken a batch and run it
                assert time.monotonic() < deadline, f"only {model.entered} batch(es) started"
                await asyncio.sleep(0.005)
            assert b.depth == 1 and model.entered == 2  # the third request waits for a free instance
            model.gate.set()
            assert [len((await p).outputs["y"]) for p in pending] == [1, 1, 1]
            await b.stop()
        assert model.sizes == [1, 1, 1]

    run(main())
