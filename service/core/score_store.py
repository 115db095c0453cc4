"""Where scoring sessions live: one `SessionStore` interface, SQLite (embedded) and PostgreSQL (shared).

Layout (both stores): a ``score_sessions`` row per session (its options as JSON, when it was created and last
touched), and a ``score_chunks`` row per acknowledged chunk: its id, the digest of its data and its mergeable
state (`losses.ScoreState` as JSON bytes). Chunks are rows, merged when the summary is read, so replicas that
append to one session at once never write the same row: each append is one short transaction that inserts
its row (or finds the same chunk id already there), and it commits (durably: SQLite ``synchronous=FULL`` in
WAL mode, PostgreSQL's synchronous commit) before the chunk is acknowledged. Deleting a session deletes its
chunks (a foreign key, ``ON DELETE CASCADE``).

Expiry: a session whose ``touched`` is older than the TTL is gone; every read checks it, and `expire` (run
on each create) deletes such sessions. ``touched`` is written when it is older than `TOUCH_EVERY_S`, in its
own transaction, so concurrent appends do not queue on the session's row.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import Conflict, NotFound

__all__ = ["TOUCH_EVERY_S", "ChunkRow", "SessionRecord", "SessionStore", "SqliteStore", "open_store"]

#: ``touched`` is refreshed when older than this (or a tenth of the TTL, whichever is less)
TOUCH_EVERY_S = 60.0


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
    def chunks(self, session_id: str, now: float) -> tuple[SessionRecord, list[ChunkRow]]:
        """The live session and all its chunks, read in one transaction."""

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


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS score_sessions (
    id TEXT PRIMARY KEY, options TEXT NOT NULL, created REAL NOT NULL, touched REAL NOT NULL);
CREATE TABLE IF NOT EXISTS score_chunks (
    session_id TEXT NOT NULL REFERENCES score_sessions(id) ON DELETE CASCADE,
    chunk_id TEXT NOT NULL, digest TEXT NOT NULL, elements INTEGER NOT NULL, state BLOB NOT NULL,
    PRIMARY KEY (session_id, chunk_id));
"""


class SqliteStore(SessionStore):
    """SQLite in WAL mode: one file, any number of processes on one host (writers take turns)."""

    def __init__(self, path: Path, ttl_s: float) -> None:
        super().__init__(ttl_s)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SQLITE_SCHEMA)

    def _record(self, session_id: str) -> SessionRecord | None:
        row = self._db.execute(
            "SELECT id, options, created, touched FROM score_sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return None if row is None else SessionRecord(*row)

    def _touch(self, record: SessionRecord, now: float) -> None:
        if self._stale(record, now):
            self._db.execute("UPDATE score_sessions SET touched = ? WHERE id = ?", (now, record.id))

    def create(self, session_id: str, options: str, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO score_sessions (id, options, created, touched) VALUES (?, ?, ?, ?)",
                (session_id, options, now, now),
            )

    def session(self, session_id: str, now: float) -> SessionRecord:
        with self._lock:
            record = self._live(self._record(session_id), now)
            self._touch(record, now)
            return record

    def put_chunk(self, session_id: str, chunk: ChunkRow, now: float) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                record = self._live(self._record(session_id), now)
                row = self._db.execute(
                    "SELECT digest FROM score_chunks WHERE session_id = ? AND chunk_id = ?",
                    (session_id, chunk.chunk_id),
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO score_chunks (session_id, chunk_id, digest, elements, state) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (session_id, chunk.chunk_id, chunk.digest, chunk.elements, chunk.state),
                    )
                self._touch(record, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if row is not None and row[0] != chunk.digest:
            raise _conflict(session_id, chunk.chunk_id)
        return row is None

    def chunks(self, session_id: str, now: float) -> tuple[SessionRecord, list[ChunkRow]]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                record = self._live(self._record(session_id), now)
                rows = self._db.execute(
                    "SELECT chunk_id, digest, elements, state FROM score_chunks WHERE session_id = ? "
                    "ORDER BY chunk_id",
                    (session_id,),
                ).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._touch(record, now)
        return record, [ChunkRow(r[0], r[1], int(r[2]), bytes(r[3])) for r in rows]

    def delete(self, session_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM score_sessions WHERE id = ?", (session_id,)).rowcount > 0

    def expire(self, now: float) -> int:
        with self._lock:
            cursor = self._db.execute("DELETE FROM score_sessions WHERE touched < ?", (now - self.ttl_s,))
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(url: str, ttl_s: float) -> SessionStore:
    """The store a ``score_store`` URL names: ``sqlite:///PATH`` (``sqlite:////abs/path``: absolute) or
    ``postgresql://...`` (also ``postgres://``)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path:
            raise ValueError(
                f"score_store {url!r}: write sqlite:///relative/path or sqlite:////absolute/path"
            )
        return SqliteStore(Path(unquote(parts.path[1:])), ttl_s)
    if parts.scheme in ("postgresql", "postgres"):
        from .score_store_pg import PostgresStore

        return PostgresStore(url, ttl_s)
    raise ValueError(f"score_store {url!r}: the scheme must be sqlite or postgresql")
