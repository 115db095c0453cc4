"""Where scoring sessions live: one `SessionStore` interface, SQLite (embedded) and PostgreSQL (shared).

Layout (both stores): a ``score_sessions`` row per session (its options as JSON, when it was created and last
touched), a ``score_chunks`` row per acknowledged chunk (its id, the digest of its data, its mergeable state:
`losses.ScoreState` as JSON bytes) and a ``score_folded`` row per session (the merge of the states folded so
far). Chunks are rows, merged when the summary is read, so replicas that append to one session at once never
write the same row: each append is one short transaction that inserts its row (or finds the same chunk id
already there), and it commits (durably: SQLite ``synchronous=FULL`` in WAL mode, PostgreSQL's synchronous
commit) before the chunk is acknowledged. Reading folds the new chunks' states into ``score_folded`` first,
a bounded batch per transaction (the state is dropped from the chunk's row, its id and digest stay), so a
read costs the chunks since the last read, in bounded memory. Deleting a session deletes its chunks and
folded state (foreign keys, ``ON DELETE CASCADE``).

Expiry: a session whose ``touched`` is older than the TTL is gone; every read checks it, and `expire` (run
on each create) deletes such sessions. ``touched`` is written when it is older than `TOUCH_EVERY_S`, in its
own transaction, so concurrent appends do not queue on the session's row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import Conflict, NotFound

__all__ = ["TOUCH_EVERY_S", "ChunkRow", "Merge", "SessionRecord", "SessionStore", "open_store"]

#: ``touched`` is refreshed when older than this (or a tenth of the TTL, whichever is less)
TOUCH_EVERY_S = 60.0
#: merges states (JSON bytes) into one
Merge = Callable[[list[bytes]], bytes]


@dataclass(frozen=True)
class SessionRecord:
    id: str
    options: str
    created: float
    touched: float


@dataclass(frozen=True)
class ChunkRow:
    chunk_id: str
    digest: str
    elements: int
    state: bytes


class SessionStore(ABC):
    """The operations a session needs; every method is blocking (call it from a thread pool)."""

    #: What the store raises when it cannot be reached or written (disk, server, pool): a 503 for the client.
    unavailable: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s

    def _live(self, record: SessionRecord | None, now: float) -> SessionRecord:
        if record is None or record.touched < now - self.ttl_s:
            raise NotFound(f"no scoring session {record.id if record else ''} (unknown, deleted or expired)")
        return record

    def _stale(self, record: SessionRecord, now: float) -> bool:
        return now - record.touched > min(TOUCH_EVERY_S, self.ttl_s / 10)

    @abstractmethod
    def create(self, session_id: str, options: str, now: float) -> None: ...

    @abstractmethod
    def session(self, session_id: str, now: float) -> SessionRecord:
        """The live session (touched), or `NotFound`."""

    @abstractmethod
    def put_chunk(self, session_id: str, chunk: ChunkRow, now: float) -> bool:
        """Store ``chunk`` durably; True if new, False if the same chunk id with the same digest was there.

        Raises:
            NotFound: no live session ``session_id``.
            Conflict: the chunk id is there with another digest.
        """

    @abstractmethod
    def states(self, session_id: str, now: float) -> tuple[SessionRecord, list[bytes]]:
        """The live session, and in one transaction its folded state (if any) and every unfolded chunk's."""

    @abstractmethod
    def fold(self, session_id: str, merge: Merge, limit: int) -> int:
        """Merge up to ``limit`` unfolded chunk states into the session's folded state, in one transaction
        (their rows keep the chunk id and digest, so retries still count once); how many were folded."""

    @abstractmethod
    def chunk_ids(self, session_id: str) -> list[tuple[str, str]]:
        """Every chunk (id, digest), folded or not, in id order."""

    @abstractmethod
    def delete(self, session_id: str) -> bool: ...

    @abstractmethod
    def expire(self, now: float) -> int:
        """Delete the sessions idle past the TTL; how many."""

    @abstractmethod
    def close(self) -> None: ...


def _conflict(session_id: str, chunk_id: str) -> Conflict:
    return Conflict(
        f"chunk {chunk_id!r} of session {session_id} was already sent with other data; a chunk id names "
        "one chunk (send new data under a new id)",
        field="chunk_id",
    )


def open_store(url: str, ttl_s: float) -> SessionStore:
    """The store a ``score_store`` URL names: ``sqlite:///PATH`` (``sqlite:////abs/path``: absolute) or
    ``postgresql://...`` (also ``postgres://``)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path:
            raise ValueError(
                f"score_store {url!r}: write sqlite:///relative/path or sqlite:////absolute/path"
            )
        from .score_store_sqlite import SqliteStore

        return SqliteStore(Path(unquote(parts.path[1:])), ttl_s)
    if parts.scheme in ("postgresql", "postgres"):
        from .score_store_pg import PostgresStore

        return PostgresStore(url, ttl_s)
    raise ValueError(f"score_store {url!r}: the scheme must be sqlite or postgresql")
