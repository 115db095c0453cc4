"""Scoring sessions: a score accumulated over many chunks, calls and replicas, in a `SessionStore`.

A session holds the options of ``/v1/score`` (no per-sample answers: ``per_sample``, ``gradient`` and
reduction ``none`` are refused) and one mergeable state (`losses.ScoreState`) per acknowledged chunk. A chunk
is acknowledged once its row is committed. Its id makes retries idempotent: the same id with the same data
(the SHA-256 of its arrays in a canonical dtype, so JSON, ``.npz`` and ``.npy`` bodies of the same numbers
agree) is counted once, with other data it is a `Conflict`. The summary merges every chunk's state: the
answer ``/v1/score`` gives for all chunks at once (values within 1e-12 relative), with ``chunks``.

Both edges call `ScoreSessions`; store calls run in a pool of their own threads, chunk states in the CPU pool.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import reduce
from typing import Any, TypeVar

import numpy as np

import losses

from ..errors import InvalidInput, NotFound, Unavailable
from .score_store import ChunkRow, SessionStore, open_store
from .scoring import ScoreOptions, chunk_state, score_spec

__all__ = ["CHUNK_ID", "ScoreSessions", "chunk_digest"]

T = TypeVar("T")

#: a chunk id: 1-128 URL-safe characters
CHUNK_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
#: chunk states folded into a session's state per transaction when its summary is read
FOLD_BATCH = 256


def chunk_digest(predictions: np.ndarray, labels: np.ndarray | None) -> str:
    """SHA-256 of the arrays as scored: predictions as float64, integer labels as int64, others float64."""
    h = hashlib.sha256()
    for array in (predictions, labels):
        if array is None:
            h.update(b"none;")
            continue
        dtype = np.int64 if array.dtype.kind in "biu" and array is labels else np.float64
        canonical = np.ascontiguousarray(array, dtype=dtype)
        h.update(f"{canonical.dtype.str}{list(canonical.shape)};".encode())
        h.update(canonical.tobytes())
    return h.hexdigest()


log = logging.getLogger(__name__)


class ScoreSessions:
    """Create, append to, read and delete scoring sessions (the store is opened on first use)."""

    def __init__(self, store_url: str, ttl_s: float, cpu_pool: Executor, *, threads: int = 8) -> None:
        self.store_url = store_url
        self.ttl_s = ttl_s
        self.cpu_pool = cpu_pool
        self.io_pool = ThreadPoolExecutor(threads, thread_name_prefix="score-store")
        self._store: SessionStore | None = None
        self._opening = asyncio.Lock()

    async def _in(self, pool: Executor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def store(self) -> SessionStore:
        """The store, opened on first use; any failure to open it is `Unavailable` (tried again next call)."""
        if self._store is None:
            async with self._opening:
                if self._store is None:
                    try:
                        self._store = await self._in(self.io_pool, open_store, self.store_url, self.ttl_s)
                    except Exception as exc:
                        raise _unavailable(exc) from exc
        return self._store

    async def _io(self, store: SessionStore, fn: Callable[..., T], *args: Any) -> T:
        """A store call in the I/O pool; the store's own outage errors become `Unavailable` (503)."""
        try:
            return await self._in(self.io_pool, fn, *args)
        except store.unavailable as exc:
            raise _unavailable(exc) from exc

    @staticmethod
    def check_options(options: ScoreOptions) -> None:
        """A session's options: those of ``/v1/score`` that reduce (`InvalidInput` naming the field)."""
        for name in ("per_sample", "gradient"):
            if getattr(options, name):
                raise InvalidInput(
                    "a session answers reduced values only (score per-sample values with "
                    "/v1/score or focalserve-score)",
                    field=name,
                )
        score_spec(options)  # reduction none, unknown losses, bad calibration bins
        # the loss parameters, on a tiny chunk (multiclass: as many classes as a vector parameter has)
        classes = 2
        for spec in options.losses:
            for vector in (spec.weight, spec.alpha if isinstance(spec.alpha, list) else None):
                classes = len(vector) if vector else classes
            if spec.background_class is not None and 0 <= spec.background_class < 1 << 16:
                classes = max(classes, spec.background_class + 1)
        y: np.ndarray = np.zeros(1, dtype=np.int64 if options.kind == "multiclass" else np.float64)
        x: np.ndarray
        if options.kind == "multiclass":
            x = np.zeros((1, classes)) if options.from_logits else np.full((1, classes), 1.0 / classes)
        else:
            x = np.zeros(1) if options.from_logits else np.full(1, 0.5)
        for i, spec in enumerate(options.losses):
            one = options.model_copy(update={"losses": [spec], "anatomy": False, "per_class": False})
            try:
                chunk_state(x, y, one)
            except InvalidInput as exc:
                if (
                    exc.field is None
                    or exc.field in ("predictions", "labels")
                    or exc.field.startswith("losses")
                ):
                    raise
                raise InvalidInput(exc.detail, field=f"losses[{i}].{exc.field}") from None

    async def create(self, options: ScoreOptions) -> dict[str, Any]:
        await self._in(self.cpu_pool, self.check_options, options)
        store = await self.store()
        session_id, now = uuid.uuid4().hex, time.time()
        await self._io(store, store.expire, now)
        await self._io(store, store.create, session_id, options.model_dump_json(exclude_unset=True), now)
        return {"id": session_id, "ttl_s": self.ttl_s}

    def _check_id(self, session_id: str) -> None:
        if not _SESSION_ID.fullmatch(session_id):
            raise NotFound(f"no scoring session {session_id!r} (ids are 32 hex digits)")

    async def options(self, session_id: str) -> ScoreOptions:
        self._check_id(session_id)
        store = await self.store()
        record = await self._io(store, store.session, session_id, time.time())
        return ScoreOptions.model_validate_json(record.options)

    async def put_chunk(
        self, session_id: str, chunk_id: str, predictions: np.ndarray, labels: np.ndarray | None
    ) -> dict[str, Any]:
        """Score the chunk, store its state durably, then answer (``new``: False for a repeat)."""
        if not CHUNK_ID.fullmatch(chunk_id):
            raise InvalidInput("must be 1-128 characters of A-Z a-z 0-9 . _ ~ -", field="chunk_id")
        options = await self.options(session_id)
        row = await self._in(self.cpu_pool, _chunk_row, chunk_id, predictions, labels, options)
        store = await self.store()
        new = await self._io(store, store.put_chunk, session_id, row, time.time())
        return {"session": session_id, "chunk": chunk_id, "elements": row.elements, "new": new}

    async def summary(self, session_id: str) -> dict[str, Any]:
        """Fold the chunks since the last read (batches of `FOLD_BATCH`, one transaction each), then merge
        the folded state with what arrived meanwhile."""
        options = await self.options(session_id)
        store = await self.store()
        merge = functools.partial(_merged_bytes, options)
        while await self._io(store, store.fold, session_id, merge, FOLD_BATCH) == FOLD_BATCH:
            pass
        record, states = await self._io(store, store.states, session_id, time.time())
        result = await self._in(self.cpu_pool, _merged_result, options, states)
        return {"id": session_id, "created": record.created, **result}

    async def delete(self, session_id: str) -> None:
        self._check_id(session_id)
        store = await self.store()
        if not await self._io(store, store.delete, session_id):
            raise NotFound(f"no scoring session {session_id} (unknown, deleted or expired)")

    async def close(self) -> None:
        if self._store is not None:
            await self._in(self.io_pool, self._store.close)
        self.io_pool.shutdown(wait=False)


def _unavailable(exc: BaseException) -> Unavailable:
    log.error("scoring-session store unavailable: %s: %s", type(exc).__name__, exc)
    return Unavailable(
        f"the scoring-session store is unavailable ({type(exc).__name__}: {exc}); try again later"
    )


def _chunk_row(
    chunk_id: str, predictions: np.ndarray, labels: np.ndarray | None, options: ScoreOptions
) -> ChunkRow:
    state = chunk_state(predictions, labels, options)
    return ChunkRow(chunk_id, chunk_digest(predictions, labels), int(predictions.size), state.to_bytes())


def _merged(options: ScoreOptions, states: list[bytes]) -> losses.ScoreState:
    empty = losses.ScoreState(score_spec(options))
    return reduce(lambda a, b: a.merge(b), (losses.ScoreState.from_bytes(s) for s in states), empty)


def _merged_bytes(options: ScoreOptions, states: list[bytes]) -> bytes:
    return _merged(options, states).to_bytes()


def _merged_result(options: ScoreOptions, states: list[bytes]) -> dict[str, Any]:
    return _merged(options, states).result()
