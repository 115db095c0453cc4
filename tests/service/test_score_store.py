"""The scoring-session stores (SQLite and a real PostgreSQL), through their one interface."""

from __future__ import annotations

import threading
import time

import pytest

from service.core.score_store import ChunkRow, open_store
from service.errors import Conflict, NotFound


def _row(chunk_id: str, digest: str = "d", state: bytes = b"{}") -> ChunkRow:
    return ChunkRow(chunk_id, digest, 3, state)


def test_chunks_are_stored_once_conflicts_refused_and_deleted_with_their_session(store_url: str) -> None:
    store = open_store(store_url, ttl_s=3600)
    try:
        now = time.time()
        store.create("s1", '{"kind": "binary"}', now)
        assert store.put_chunk("s1", _row("a", state=b"\x00\x01"), now) is True
        assert store.put_chunk("s1", _row("a", state=b"\x00\x01"), now) is False
        with pytest.raises(Conflict):
            store.put_chunk("s1", _row("a", digest="other"), now)
        assert store.put_chunk("s1", _row("b"), now) is True
        record, states = store.states("s1", now)
        assert record.options == '{"kind": "binary"}'
        assert states == [b"\x00\x01", b"{}"]
        assert store.chunk_ids("s1") == [("a", "d"), ("b", "d")]
        with pytest.raises(NotFound):
            store.put_chunk("nope", _row("a"), now)
        assert store.delete("s1") is True
        assert store.delete("s1") is False
        with pytest.raises(NotFound):
            store.states("s1", now)
        # the chunks went with the session: a new session of that id starts empty
        store.create("s1", "{}", now)
        assert store.states("s1", now)[1] == [] and store.chunk_ids("s1") == []
    finally:
        store.close()


def test_an_idle_session_expires_and_a_touched_one_does_not(store_url: str) -> None:
    store = open_store(store_url, ttl_s=100)
    try:
        store.create("old", "{}", 1000.0)
        store.create("young", "{}", 1000.0)
        store.session("young", 1090.0)  # touched (older than a tenth of the TTL)
        with pytest.raises(NotFound):
            store.session("old", 1101.0)
        assert store.session("young", 1101.0).id == "young"
        assert store.expire(1101.0) == 1
        with pytest.raises(NotFound):
            store.put_chunk("old", _row("a"), 1000.0)  # gone, not merely stale
    finally:
        store.close()


def test_concurrent_appends_from_two_clients_lose_nothing_and_count_a_chunk_once(store_url: str) -> None:
    stores = [open_store(store_url, ttl_s=3600), open_store(store_url, ttl_s=3600)]
    try:
        now = time.time()
        stores[0].create("s", "{}", now)
        news: list[bool] = []
        lock = threading.Lock()

        def append(store_index: int, worker: int) -> None:
            for i in range(25):
                # every chunk id is sent by two workers at once, through different clients
                new = stores[store_index].put_chunk("s", _row(f"c{i:02d}-{worker // 2}"), time.time())
                with lock:
                    news.append(new)

        threads = [threading.Thread(target=append, args=(w % 2, w)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = stores[1].states("s", time.time())[1]
        assert len(rows) == 25 * 4 == sum(news) == len(stores[0].chunk_ids("s"))
        assert len(news) == 200
    finally:
        for store in stores:
            store.close()


def test_folding_merges_states_in_bounded_batches_and_keeps_chunk_ids(store_url: str) -> None:
    store = open_store(store_url, ttl_s=3600)
    try:
        now = time.time()
        store.create("s", "{}", now)
        for name in "abcde":
            store.put_chunk("s", _row(name, digest=name, state=name.encode()), now)

        def merge(states: list[bytes]) -> bytes:
            return b"".join(sorted(states))

        assert store.fold("s", merge, limit=2) == 2
        assert store.states("s", now)[1] == [b"ab", b"c", b"d", b"e"]
        assert store.fold("s", merge, limit=10) == 3
        assert store.fold("s", merge, limit=10) == 0
        assert store.states("s", now)[1] == [b"abcde"]
        # a folded chunk still counts once, and still refuses other data
        assert store.put_chunk("s", _row("a", digest="a", state=b"a"), now) is False
        with pytest.raises(Conflict):
            store.put_chunk("s", _row("b", digest="other"), now)
        assert store.put_chunk("s", _row("f", digest="f", state=b"f"), now) is True
        assert store.states("s", now)[1] == [b"abcde", b"f"]
        assert [c for c, _ in store.chunk_ids("s")] == list("abcdef")
        assert store.delete("s") and store.fold("s", merge, limit=10) == 0
    finally:
        store.close()


def test_a_store_url_must_name_a_known_scheme() -> None:
    with pytest.raises(ValueError, match="scheme"):
        open_store("mysql://x/y", ttl_s=1)
    with pytest.raises(ValueError, match="sqlite"):
        open_store("sqlite://host/x", ttl_s=1)
