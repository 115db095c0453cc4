"""Dynamic batching with Triton's semantics, generic over dicts of numpy arrays.

Each model version gets one `Batcher`: a bounded queue of requests and one loop that groups them into batches.
What to run next is decided by the pure policy `service.core.batch_plan.plan_batch`.

The loop concatenates the inputs along axis 0, runs the model in a thread pool (ONNX Runtime releases the
GIL), checks that every output has the batch's row count, and splits the outputs back per request. When a
batch fails, every request in it fails with a clear error. A full queue rejects at once (`Overloaded`, 503 +
Retry-After); a request not answered within its timeout gets `Timeout` (504) and is skipped if not yet run.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections import deque
from collections.abc import Hashable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from ..errors import InternalError, InvalidInput, Overloaded, ServiceError, Timeout, Unavailable
from .batch_plan import plan_batch, rows_of, signature_of
from .batch_types import BatchObserver, BatchResult, RunFn, split_outputs
from .statistics import ModelStatistics, StageTimes, timed_call

__all__ = ["BatchObserver", "BatchResult", "Batcher", "RunFn"]

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    signature: Hashable
    future: asyncio.Future[BatchResult]
    queued_at: float = field(default_factory=time.monotonic)


class Batcher:
    """The dynamic batcher of one model version.

    Args:
        model: model name (errors and metrics).
        version: model version (errors and metrics).
        run: the synchronous model call, run in ``executor``.
        executor: the thread pool for ``run``.
        max_batch_size: most rows per model call.
        max_queue_delay_s: longest a request waits for a fuller batch.
        queue_size: most requests waiting; more -> `Overloaded`.
        instances: batches that may run at once (Triton's ``instance_group`` count); while all run, new
            requests wait and join the next batch.
        observer: optional metrics sink.

    ``statistics`` accumulates the version's statistics (`service.core.statistics`): every request that
    `submit` answers, every batch that runs.
    """

    def __init__(
        self,
        model: str,
        version: str,
        run: RunFn,
        executor: Executor,
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        queue_size: int,
        instances: int = 1,
        observer: BatchObserver | None = None,
    ) -> None:
        self.model, self.version = model, version
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.queue_size = queue_size
        self._run, self._executor, self._observer = run, executor, observer
        self._queue: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._recent_batch_s = 0.0
        self._slots = asyncio.Semaphore(instances)
        self._running: set[asyncio.Task[None]] = set()
        self.statistics = ModelStatistics()
        self._pending = 0  # accepted, not answered yet

    @property
    def depth(self) -> int:
        """Requests waiting (not yet running)."""
        return len(self._queue)

    def start(self) -> None:
        """Start the batch loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher:{self.model}")

    async def stop(self, grace_s: float = 30.0) -> None:
        """Run what is queued without waiting for company, end the loop; fail leftovers after ``grace_s``."""
        self._closing = True
        self._wakeup.set()
        if self._task is None:
            return
        deadline = time.monotonic() + grace_s
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            if self._running:
                await asyncio.wait(self._running, timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(Unavailable(f"model {self.model} is shutting down"))

    async def submit(self, inputs: Mapping[str, np.ndarray], *, timeout_s: float) -> BatchResult:
        """Queue one request and wait for its share of a batch; count it in `statistics` either way.

        Args:
            inputs: ``{name: array [rows, ...]}``; every array has the same ``rows >= 1``.
            timeout_s: seconds until `Timeout`.

        Raises:
            InvalidInput: inconsistent row counts or more rows than ``max_batch_size``.
            Overloaded: the queue is full.
            Unavailable: the batcher is shutting down.
            Timeout: not answered within ``timeout_s``.
            InternalError: the batch this request ran in failed.
        """
        arrived = time.monotonic()
        try:
            result = await self._submit(inputs, timeout_s)
        except BaseException:  # a cancelled request (its client gone) counts as failed too
            self.statistics.request_failed(time.monotonic() - arrived)
            raise
        rows = len(next(iter(result.outputs.values()))) if result.outputs else 0
        self.statistics.request_succeeded(rows, time.monotonic() - arrived, result.queue_s, result.times)
        return result

    async def _submit(self, inputs: Mapping[str, np.ndarray], timeout_s: float) -> BatchResult:
        arrays = {k: np.asarray(v) for k, v in inputs.items()}
        rows = rows_of(arrays)
        if rows > self.max_batch_size:
            raise InvalidInput(
                f"{rows} rows in one request exceed the max batch size {self.max_batch_size} of model "
                f"{self.model}; split the request",
                field="inputs",
            )
        if self._closing or self._task is None:
            raise Unavailable(f"model {self.model} version {self.version} is not accepting requests")
        if len(self._queue) >= self.queue_size:
            raise Overloaded(
                f"model {self.model} queue is full ({self.queue_size} requests waiting); retry later",
                retry_after=max(1.0, self._recent_batch_s * len(self._queue) / max(1, self.max_batch_size)),
            )
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        pending = _Pending(arrays, rows, signature_of(arrays), future)
        self._queue.append(pending)
        self._report_depth()
        self._report_pending(+1)
        self._wakeup.set()
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise Timeout(
                f"model {self.model} did not answer within the request timeout of {timeout_s:g} s"
            ) from None
        finally:
            self._report_pending(-1)
            if not future.done() or future.cancelled():
                self._withdraw(pending)

    def _withdraw(self, pending: _Pending) -> None:
        """Take a request that nobody waits for any more (timed out, cancelled) out of the queue at once, so
        it neither holds a place nor joins a batch."""
        try:
            self._queue.remove(pending)
        except ValueError:  # already taken into a batch
            return
        self._report_depth()
        self._wakeup.set()

    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()  # a free instance first: meanwhile requests queue up and batch
            try:
                batch = await self._next_batch()
            except BaseException:
                self._slots.release()
                raise
            if batch is None:
                self._slots.release()
                return
            task = asyncio.get_running_loop().create_task(self._run_then_release(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_then_release(self, batch: list[_Pending]) -> None:
        try:
            await self._run_batch(batch)
        finally:
            self._slots.release()

    async def _next_batch(self) -> list[_Pending] | None:
        """Wait for the next batch by the policy; None once closing with nothing queued."""
        while True:
            self._drop_abandoned()
            if not self._queue:
                if self._closing:
                    return None
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            plan = plan_batch(
                [p.rows for p in self._queue],
                [p.signature for p in self._queue],
                self._queue[0].queued_at,
                time.monotonic(),
                max_batch_size=self.max_batch_size,
                max_queue_delay_s=self.max_queue_delay_s,
                flush=self._closing,
            )
            if plan.take == 0:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), plan.wait_s)
                continue
            batch = [self._queue.popleft() for _ in range(plan.take)]
            self._report_depth()
            return batch

    def _drop_abandoned(self) -> None:
        if any(p.future.done() for p in self._queue):
            self._queue = deque(p for p in self._queue if not p.future.done())
            self._report_depth()

    async def _run_batch(self, batch: list[_Pending]) -> None:
        started = time.monotonic()
        total = sum(p.rows for p in batch)
        error: ServiceError | None = None
        shares: list[dict[str, np.ndarray]] = []
        stamps: list[float] = []  # the model call's start and end, read in its thread
        try:
            inputs = {
                k: (batch[0].inputs[k] if len(batch) == 1 else np.concatenate([p.inputs[k] for p in batch]))
                for k in batch[0].inputs
            }
            raw = await asyncio.get_running_loop().run_in_executor(
                self._executor, timed_call, stamps, self._run, inputs
            )
            shares = split_outputs(raw, [p.rows for p in batch], self.model, self.version)
        except ServiceError as exc:
            error = exc
        except Exception as exc:
            log.exception("batch of %d rows failed on model %s version %s", total, self.model, self.version)
            error = InternalError(
                f"model {self.model} version {self.version} failed on a batch of {total} rows: "
                f"{type(exc).__name__}: {exc}"
            )
        ended = time.monotonic()
        ran_from, ran_to = (stamps[0], stamps[-1]) if len(stamps) == 2 else (ended, ended)
        times = StageTimes(ran_from - started, ran_to - ran_from, ended - ran_to)
        self._recent_batch_s = compute_s = ended - started
        if self._observer is not None:
            self._observer.batch_done(
                self.model, self.version, total, [started - p.queued_at for p in batch], times
            )
        if error is None:
            self.statistics.batch_ran(total, times)
        for i, p in enumerate(batch):
            if not p.future.done():
                if error is not None:
                    p.future.set_exception(copy.copy(error))
                else:
                    p.future.set_result(
                        BatchResult(shares[i], started - p.queued_at, compute_s, total, times)
                    )

    def _report_depth(self) -> None:
        if self._observer is not None:
            self._observer.queue_depth(self.model, self.version, len(self._queue))

    def _report_pending(self, change: int) -> None:
        self._pending += change
        if self._observer is not None:
            self._observer.pending(self.model, self.version, self._pending)
