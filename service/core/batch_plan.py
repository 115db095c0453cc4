"""The batching policy of Triton's dynamic batcher, as a pure function of the queue's state.

* a batch holds at most ``max_batch_size`` rows (a request with ``n`` images counts ``n``);
* it runs as soon as it is full, or when its oldest request has waited ``max_queue_delay_s``;
* only requests with the same *signature* (input names, dtypes, per-row shapes) are concatenated together.

`service.core.batching.Batcher` asks `plan_batch` what to run next, so the policy is tested without a loop.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInput

__all__ = ["BatchPlan", "plan_batch", "rows_of", "signature_of"]


@dataclass(frozen=True)
class BatchPlan:
    """What the batch loop should do now.

    Attributes:
        take: how many queued requests (from the front) to run as one batch now; 0 means wait.
        wait_s: when ``take == 0``, how long to wait for more requests before planning again
            (``None``: until the next arrival).
    """

    take: int
    wait_s: float | None = None


def plan_batch(
    rows: Sequence[int],
    signatures: Sequence[Hashable],
    first_arrival: float,
    now: float,
    *,
    max_batch_size: int,
    max_queue_delay_s: float,
    flush: bool = False,
) -> BatchPlan:
    """Decide the next batch from the queue's state (pure).

    Args:
        rows: rows (images) of each queued request, oldest first.
        signatures: a hashable signature per queued request; a batch only joins equal signatures.
        first_arrival: monotonic time the oldest request was queued.
        now: the current monotonic time.
        max_batch_size: most rows in one batch.
        max_queue_delay_s: longest the oldest request waits for company.
        flush: run whatever is queued without waiting (shutdown).

    Returns:
        the plan: run the first ``take`` requests now, or wait ``wait_s``.
    """
    if not rows:
        return BatchPlan(0, None)
    total = take = 0
    for n, sig in zip(rows, signatures, strict=True):
        if take and (total + n > max_batch_size or sig != signatures[0]):
            break
        total += n
        take += 1
    full = take < len(rows) or total >= max_batch_size
    deadline = first_arrival + max_queue_delay_s
    if full or flush or now >= deadline:
        return BatchPlan(take, 0.0)
    return BatchPlan(0, deadline - now)


def signature_of(inputs: Mapping[str, np.ndarray]) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """The batch-compatibility key of one request: sorted (name, dtype, per-row shape)."""
    return tuple(sorted((k, v.dtype.str, tuple(v.shape[1:])) for k, v in inputs.items()))


def rows_of(arrays: Mapping[str, np.ndarray]) -> int:
    """The batch rows of one request: every input's first dimension, equal and >= 1.

    Raises:
        InvalidInput: no input, a scalar, or inputs that disagree.
    """
    if not arrays:
        raise InvalidInput("a request needs at least one input tensor", field="inputs")
    rows = {k: (v.shape[0] if v.ndim else -1) for k, v in arrays.items()}
    distinct = set(rows.values())
    if len(distinct) != 1 or min(distinct) < 1:
        raise InvalidInput(
            f"every input needs the same batch dimension >= 1, got {rows}", field=next(iter(arrays))
        )
    return distinct.pop()
