"""Per model version statistics in the form of Triton's statistics extension, kept by the core.

One `ModelStatistics` per model version (its batcher holds it; each loss model holds its own): counts and
nanosecond sums that only grow, read by `snapshot` as Triton's ``model_stats`` entry has them:

* a *request* is one call of the model (a v2 infer, one chunk of a ``/v1`` detect, one loss computation);
  ``success`` / ``fail`` count requests and their time from arrival to answer; ``inference_count`` counts
  the rows of the successful ones (a request with ``n`` images counts ``n``);
* ``queue``, ``compute_input``, ``compute_infer``, ``compute_output``: per successful request, the time it
  waited for its batch and the time its batch spent in each stage (`StageTimes`): every request of a batch
  is charged the whole batch's stage times, as Triton does;
* an *execution* is one batch run: ``execution_count`` and ``batch_stats`` (per batch size in rows: how many
  ran and their stage times).

Updates come from the event loop (the batcher, the dataplane); a lock makes a snapshot taken from any thread
consistent. One uncontended lock per request and per batch is the whole cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["STAGES", "ModelStatistics", "StageTimes", "timed_call"]

T = TypeVar("T")

#: The per-request durations of Triton's ``inference_stats``, in the order `ModelStatistics` keeps them.
STAGES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")
_SUCCESS, _FAIL, _QUEUE, _INPUT, _INFER, _OUTPUT = range(6)
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Seconds one batch spent in each stage; together they are the batch's whole run.

    Attributes:
        input_s: from the batch's start to the model call's: the inputs concatenated, the hand-off to the
            inference thread.
        infer_s: the model call (ONNX Runtime's ``run``, or the loss computation).
        output_s: from the model call's end until every request has its share: the hand-back, the checks of
            the outputs, the split.
    """

    input_s: float = 0.0
    infer_s: float = 0.0
    output_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.input_s + self.infer_s + self.output_s


def timed_call(stamps: list[float], fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, appending to ``stamps`` the monotonic times it started and ended (also when it raises):
    run in a worker thread, it times the call itself, not the hand-offs to and from the thread."""
    stamps.append(time.monotonic())
    try:
        return fn(*args)
    finally:
        stamps.append(time.monotonic())


def _duration(count: int, ns: int) -> dict[str, int]:
    return {"count": count, "ns": ns}


class ModelStatistics:
    """The statistics of one model version (see the module's docstring for what counts)."""

    __slots__ = (
        "_batches",
        "_counts",
        "_lock",
        "_ns",
        "execution_count",
        "inference_count",
        "last_inference",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * len(STAGES)
        self._ns = [0] * len(STAGES)
        #: batch size -> [executions, compute_input ns, compute_infer ns, compute_output ns]
        self._batches: dict[int, list[int]] = {}
        self.inference_count = 0
        self.execution_count = 0
        self.last_inference = 0  # ms since the epoch

    def request_succeeded(self, rows: int, total_s: float, queue_s: float, times: StageTimes) -> None:
        """One request answered: its ``rows``, its time in all, in the queue, and its batch's stage times."""
        now_ms = time.time_ns() // 1_000_000
        add = (total_s, queue_s, times.input_s, times.infer_s, times.output_s)
        with self._lock:
            counts, ns = self._counts, self._ns
            for i, seconds in zip((_SUCCESS, _QUEUE, _INPUT, _INFER, _OUTPUT), add, strict=True):
                counts[i] += 1
                ns[i] += int(seconds * _NS)
            self.inference_count += rows
            self.last_inference = now_ms

    def request_failed(self, total_s: float) -> None:
        """One request answered with an error after ``total_s``."""
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            self._counts[_FAIL] += 1
            self._ns[_FAIL] += int(total_s * _NS)
            self.last_inference = now_ms

    def batch_ran(self, size: int, times: StageTimes) -> None:
        """One execution of ``size`` rows ran successfully, taking ``times``."""
        with self._lock:
            entry = self._batches.get(size)
            if entry is None:
                entry = self._batches[size] = [0, 0, 0, 0]
            entry[0] += 1
            entry[1] += int(times.input_s * _NS)
            entry[2] += int(times.infer_s * _NS)
            entry[3] += int(times.output_s * _NS)
            self.execution_count += 1

    def snapshot(self) -> dict[str, Any]:
        """Triton's ``model_stats`` entry but ``name`` and ``version``: plain ints, batch sizes ascending."""
        with self._lock:
            counts, ns = list(self._counts), list(self._ns)
            batches = sorted((size, list(entry)) for size, entry in self._batches.items())
            last, inferences, executions = self.last_inference, self.inference_count, self.execution_count
        stats = {stage: _duration(counts[i], ns[i]) for i, stage in enumerate(STAGES)}
        stats["cache_hit"], stats["cache_miss"] = _duration(0, 0), _duration(0, 0)  # no response cache
        return {
            "last_inference": last,
            "inference_count": inferences,
            "execution_count": executions,
            "inference_stats": stats,
            "batch_stats": [
                {
                    "batch_size": size,
                    "compute_input": _duration(n, input_ns),
                    "compute_infer": _duration(n, infer_ns),
                    "compute_output": _duration(n, output_ns),
                }
                for size, (n, input_ns, infer_ns, output_ns) in batches
            ],
            "memory_usage": [],
        }
