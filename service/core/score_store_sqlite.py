"""The SQLite `SessionStore`: one file in WAL mode, any number of processes on one host (writers take turns).

Every write is a ``BEGIN IMMEDIATE`` transaction (the write lock first, so check-then-insert cannot race with
another process), committed with ``synchronous=FULL``: the WAL is on disk when the commit returns.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from .score_store import ChunkRow, Merge, SessionRecord, SessionStore, _conflict

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS score_sessions (
    id TEXT PRIMARY KEY, options TEXT NOT NULL, created REAL NOT NULL, touched REAL NOT NULL);
CREATE TABLE IF NOT EXISTS score_chunks (
    session_id TEXT NOT NULL REFERENCES score_sessions(id) ON DELETE CASCADE,
    chunk_id TEXT NOT NULL, digest TEXT NOT NULL, elements INTEGER NOT NULL, state BLOB,
    PRIMARY KEY (session_id, chunk_id));
CREATE TABLE IF NOT EXISTS score_folded (
    session_id TEXT PRIMARY KEY REFERENCES score_sessions(id) ON DELETE CASCADE, state BLOB);
"""


class SqliteStore(SessionStore):
    unavailable = (OSError, sqlite3.OperationalError)  # disk full, locked past the timeout, unwritable

    def __init__(self, path: Path, ttl_s: float) -> None:
        super().__init__(ttl_s)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def _record(self, session_id: str) -> SessionRecord | None:
        row = self._db.execute(
            "SELECT id, options, created, touched FROM score_sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return None if row is None else SessionRecord(*row)

    def _touch(self, record: SessionRecord, now: float) -> None:
        if self._stale(record, now):
            self._db.execute("UPDATE score_sessions SET touched = ? WHERE id = ?", (now, record.id))

    def _transaction(self, kind: str = "IMMEDIATE") -> _Transaction:
        return _Transaction(self._db, kind)

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
        with self._lock, self._transaction():
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
        if row is not None and row[0] != chunk.digest:
            raise _conflict(session_id, chunk.chunk_id)
        return row is None

    def states(self, session_id: str, now: float) -> tuple[SessionRecord, list[bytes]]:
        with self._lock:
            with self._transaction("DEFERRED"):
                record = self._live(self._record(session_id), now)
                folded = self._db.execute(
                    "SELECT state FROM score_folded WHERE session_id = ? AND state IS NOT NULL", (session_id,)
                ).fetchall()
                rows = self._db.execute(
                    "SELECT state FROM score_chunks WHERE session_id = ? AND state IS NOT NULL "
                    "ORDER BY chunk_id",
                    (session_id,),
                ).fetchall()
            self._touch(record, now)
        return record, [bytes(r[0]) for r in [*folded, *rows]]

    def fold(self, session_id: str, merge: Merge, limit: int) -> int:
        with self._lock, self._transaction():
            rows = self._db.execute(
                "SELECT chunk_id, state FROM score_chunks WHERE session_id = ? AND state IS NOT NULL "
                "ORDER BY chunk_id LIMIT ?",
                (session_id, limit),
            ).fetchall()
            if not rows:
                return 0
            folded = self._db.execute(
                "SELECT state FROM score_folded WHERE session_id = ? AND state IS NOT NULL", (session_id,)
            ).fetchall()
            state = merge([bytes(r[0]) for r in folded] + [bytes(r[1]) for r in rows])
            self._db.execute(
                "INSERT OR REPLACE INTO score_folded (session_id, state) VALUES (?, ?)", (session_id, state)
            )
            self._db.executemany(
                "UPDATE score_chunks SET state = NULL WHERE session_id = ? AND chunk_id = ?",
                [(session_id, r[0]) for r in rows],
            )
            return len(rows)

    def chunk_ids(self, session_id: str) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_id, digest FROM score_chunks WHERE session_id = ? ORDER BY chunk_id",
                (session_id,),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

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


class _Transaction:
    """``BEGIN <kind>`` ... ``COMMIT``, or ``ROLLBACK`` when the block raises."""

    def __init__(self, db: sqlite3.Connection, kind: str) -> None:
        self._db, self._kind = db, kind

    def __enter__(self) -> None:
        self._db.execute(f"BEGIN {self._kind}")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
