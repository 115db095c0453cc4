"""The PostgreSQL `SessionStore` (psycopg 3 and its connection pool): sessions shared by every replica.

An append is one transaction: ``SELECT ... FOR KEY SHARE`` on the session row (a lock that only a delete of
the session waits for, so appends to one session from many replicas do not queue on each other), then
``INSERT ... ON CONFLICT DO NOTHING`` of the chunk's row; the commit returns once the WAL is flushed
(``synchronous_commit`` on, PostgreSQL's default), and only then is the chunk acknowledged. The schema is
created under an advisory lock, so replicas starting together do not race on ``CREATE TABLE``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .score_store import ChunkRow, Merge, SessionRecord, SessionStore, _conflict

__all__ = ["PostgresStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS score_sessions (
    id TEXT PRIMARY KEY, options TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL, touched DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS score_chunks (
    session_id TEXT NOT NULL REFERENCES score_sessions(id) ON DELETE CASCADE,
    chunk_id TEXT NOT NULL, digest TEXT NOT NULL, elements BIGINT NOT NULL, state BYTEA,
    PRIMARY KEY (session_id, chunk_id));
CREATE TABLE IF NOT EXISTS score_folded (
    session_id TEXT PRIMARY KEY REFERENCES score_sessions(id) ON DELETE CASCADE, state BYTEA);
"""
CONNECT_TIMEOUT_S = 10.0  # the longest a request waits for a connection before its 503
_SCHEMA_LOCK = 0x5C0E5E55  # pg_advisory_xact_lock key of the schema creation


class PostgresStore(SessionStore):
    unavailable = (OSError, psycopg.OperationalError, PoolTimeout)  # server down, connections exhausted

    def __init__(self, url: str, ttl_s: float, *, max_connections: int = 16) -> None:
        super().__init__(ttl_s)
        conninfo = url.replace("postgres://", "postgresql://", 1)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            conninfo, min_size=1, max_size=max_connections, open=True, timeout=CONNECT_TIMEOUT_S
        )
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(_SCHEMA)

    def _record(self, conn: psycopg.Connection[Any], session_id: str, lock: str = "") -> SessionRecord | None:
        row = conn.execute(
            "SELECT id, options, created, touched FROM score_sessions WHERE id = %s " + lock, (session_id,)
        ).fetchone()
        return None if row is None else SessionRecord(*row)

    def _touch(self, record: SessionRecord, now: float) -> None:
        if self._stale(record, now):
            with self._pool.connection() as conn:
                conn.execute("UPDATE score_sessions SET touched = %s WHERE id = %s", (now, record.id))

    def create(self, session_id: str, options: str, now: float) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO score_sessions (id, options, created, touched) VALUES (%s, %s, %s, %s)",
                (session_id, options, now, now),
            )

    def session(self, session_id: str, now: float) -> SessionRecord:
        with self._pool.connection() as conn:
            record = self._live(self._record(conn, session_id), now)
        self._touch(record, now)
        return record

    def put_chunk(self, session_id: str, chunk: ChunkRow, now: float) -> bool:
        with self._pool.connection() as conn, conn.transaction():
            record = self._live(self._record(conn, session_id, "FOR KEY SHARE"), now)
            inserted = conn.execute(
                "INSERT INTO score_chunks (session_id, chunk_id, digest, elements, state) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id, chunk_id) DO NOTHING RETURNING 1",
                (session_id, chunk.chunk_id, chunk.digest, chunk.elements, chunk.state),
            ).fetchone()
            digest = None
            if inserted is None:
                row = conn.execute(
                    "SELECT digest FROM score_chunks WHERE session_id = %s AND chunk_id = %s",
                    (session_id, chunk.chunk_id),
                ).fetchone()
                digest = None if row is None else row[0]
        self._touch(record, now)
        if inserted is None and digest != chunk.digest:
            raise _conflict(session_id, chunk.chunk_id)
        return inserted is not None

    def states(self, session_id: str, now: float) -> tuple[SessionRecord, list[bytes]]:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            record = self._live(self._record(conn, session_id), now)
            rows = conn.execute(
                "SELECT state FROM score_folded WHERE session_id = %s AND state IS NOT NULL "
                "UNION ALL (SELECT state FROM score_chunks WHERE session_id = %s AND state IS NOT NULL "
                "ORDER BY chunk_id)",
                (session_id, session_id),
            ).fetchall()
        self._touch(record, now)
        return record, [bytes(r[0]) for r in rows]

    def fold(self, session_id: str, merge: Merge, limit: int) -> int:
        with self._pool.connection() as conn, conn.transaction():
            if self._record(conn, session_id, "FOR KEY SHARE") is None:
                return 0
            conn.execute(
                "INSERT INTO score_folded (session_id, state) VALUES (%s, NULL) ON CONFLICT DO NOTHING",
                (session_id,),
            )
            folded = conn.execute(
                "SELECT state FROM score_folded WHERE session_id = %s FOR UPDATE", (session_id,)
            ).fetchone()
            rows = conn.execute(
                "SELECT chunk_id, state FROM score_chunks WHERE session_id = %s AND state IS NOT NULL "
                "ORDER BY chunk_id LIMIT %s FOR UPDATE",
                (session_id, limit),
            ).fetchall()
            if not rows:
                return 0
            before = [] if folded is None or folded[0] is None else [bytes(folded[0])]
            state = merge(before + [bytes(r[1]) for r in rows])
            conn.execute("UPDATE score_folded SET state = %s WHERE session_id = %s", (state, session_id))
            conn.execute(
                "UPDATE score_chunks SET state = NULL WHERE session_id = %s AND chunk_id = ANY(%s)",
                (session_id, [r[0] for r in rows]),
            )
            return len(rows)

    def chunk_ids(self, session_id: str) -> list[tuple[str, str]]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT chunk_id, digest FROM score_chunks WHERE session_id = %s ORDER BY chunk_id",
                (session_id,),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def delete(self, session_id: str) -> bool:
        with self._pool.connection() as conn:
            return int(conn.execute("DELETE FROM score_sessions WHERE id = %s", (session_id,)).rowcount) > 0

    def expire(self, now: float) -> int:
        with self._pool.connection() as conn:
            cursor = conn.execute("DELETE FROM score_sessions WHERE touched < %s", (now - self.ttl_s,))
            return int(cursor.rowcount)

    def close(self) -> None:
        self._pool.close()
