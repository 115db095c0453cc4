"""What the batcher (`service.core.batching`) hands out and reports, and the pieces of one batch run.

* `BatchResult`: one request's share of a batch, with its times;
* `BatchObserver`: where the batcher reports its queue, its pending requests and each batch
  (`service.core.metrics.Metrics` is one);
* `split_outputs`: a batch's outputs checked and cut back into each request's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import InternalError
from .statistics import StageTimes

__all__ = ["BatchObserver", "BatchResult", "RunFn", "split_outputs"]

#: A synchronous model call: batched inputs ``{name: [N, ...]}`` -> outputs ``{name: [N, ...]}``.
RunFn = Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class BatchResult:
    """One request's share of a batch run.

    Attributes:
        outputs: ``{name: [rows, ...]}``, this request's rows of every output.
        queue_s: time from queueing to the start of its batch.
        compute_s: time its batch took from start to split (``times.total_s``).
        batch_size: rows in the batch it ran in.
        times: its batch's time per stage.
    """

    outputs: dict[str, np.ndarray]
    queue_s: float
    compute_s: float
    batch_size: int
    times: StageTimes = field(default_factory=StageTimes)


class BatchObserver(Protocol):
    """What the batcher reports (the metrics module implements it)."""

    def queue_depth(self, model: str, version: str, depth: int) -> None:
        """Requests waiting for a batch, now."""

    def pending(self, model: str, version: str, count: int) -> None:
        """Requests accepted and not yet answered (waiting or running), now."""

    def batch_done(
        self, model: str, version: str, size: int, queue_s: Sequence[float], times: StageTimes
    ) -> None:
        """A batch of ``size`` rows ran (or failed); ``queue_s``: the wait of each of its requests."""


def split_outputs(
    raw: Mapping[str, np.ndarray], rows: Sequence[int], model: str, version: str
) -> list[dict[str, np.ndarray]]:
    """Each request's rows (views) of every output of a batch of ``sum(rows)`` rows.

    Raises:
        InternalError: an output without that batch dimension.
    """
    total = sum(rows)
    outputs = {k: np.asarray(v) for k, v in raw.items()}
    for k, v in outputs.items():
        if v.ndim == 0 or v.shape[0] != total:
            got = "a scalar" if v.ndim == 0 else f"batch dimension {v.shape[0]}"
            raise InternalError(
                f"model {model} version {version} returned output {k!r} with {got} "
                f"for a batch of {total} rows"
            )
    if len(rows) == 1:
        return [outputs]
    shares, offset = [], 0
    for n in rows:
        shares.append({k: v[offset : offset + n] for k, v in outputs.items()})
        offset += n
    return shares
