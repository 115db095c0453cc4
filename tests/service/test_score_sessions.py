"""Scoring sessions over HTTP, on both stores: the summary of the chunks is the one-shot score of them all."""

from __future__ import annotations

import io
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from .conftest import Live, run_service
from .test_score_http import npz_body

REL = 1e-12
RNG = np.random.default_rng(7)
N = 1200
X = RNG.normal(-1.0, 2.5, (N, 3))
Y = (RNG.random((N, 3)) < 0.2).astype(np.float64)
LOSSES = [
    {"name": "focal", "alpha": 0.25, "gamma": 2.0},
    {"name": "cross_entropy", "reduction": "sum"},
    {"name": "focal", "alpha": None, "gamma": 1.0, "reduction": "sum", "normalizer": 40},
    {"name": "soft_truncated", "m": 0.6, "k": 4.0},
]
XM = RNG.normal(0, 2, (900, 4))
YM = RNG.integers(0, 4, 900)
YM[::11] = -1
SUM_CE = {"name": "cross_entropy", "reduction": "sum"}
MULTICLASS = [
    {"name": "cross_entropy", "weight": [1.0, 2.0, 0.5, 1.5], "ignore_index": -1},
    {"name": "focal", "alpha": [0.1, 0.2, 0.3, 0.4], "ignore_index": -1, "reduction": "sum"},
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, standin_repo: Path, tmp_path_factory) -> Iterator[Live]:
    """The service with its session store of each kind (module-wide)."""
    from tests.pg import new_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store')}/sessions.sqlite3"
    else:
        url = new_database(request.getfixturevalue("postgres_server"))
    with run_service(standin_repo, score_store=url) as service:
        yield service


def create(live: Live, **options) -> str:
    r = live.client.post("/v1/score/sessions", json=options)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.headers["location"] == f"/v1/score/sessions/{sid}"
    return sid


def put(live: Live, sid: str, chunk: str, x: np.ndarray, y: np.ndarray, form: str = "json"):
    url = f"/v1/score/sessions/{sid}/chunks/{chunk}"
    if form == "json":
        return live.client.put(url, json={"predictions": x.tolist(), "labels": y.tolist()})
    if form == "npz":
        return live.client.put(
            url, content=npz_body(predictions=x, labels=y), headers={"content-type": "application/x-npz"}
        )
    files = {}
    for name, array in (("predictions", x), ("labels", y)):
        buf = io.BytesIO()
        np.save(buf, array)
        files[name] = (f"{name}.npy", buf.getvalue(), "application/octet-stream")
    return live.client.put(url, files=files)


def close(a, b) -> None:
    """Nested JSON values equal, floats within 1e-12 relative."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            close(u, v)
    elif isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= REL * max(abs(a), abs(b)), (a, b)
    else:
        assert a == b


def test_chunks_in_every_body_form_sum_to_the_one_shot_score(live: Live) -> None:
    options = {"losses": LOSSES, "per_class": True, "calibration_bins": 12, "anatomy": True}
    sid = create(live, **options)
    bounds = [0, 7, 300, 301, 800, N]
    forms = ["json", "npz", "multipart", "npz", "json"]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        r = put(live, sid, f"part-{i}", X[a:b], Y[a:b], forms[i])
        assert r.status_code == 201, r.text
        assert r.json() == {"session": sid, "chunk": f"part-{i}", "elements": (b - a) * 3, "new": True}
    summary = live.client.get(f"/v1/score/sessions/{sid}").json()
    assert (summary["chunks"], summary["elements"], summary["id"]) == (5, X.size, sid)
    one = live.client.post(
        "/v1/score", json={"predictions": X.tolist(), "labels": Y.tolist(), **options}
    ).json()
    for got, want in zip(summary["losses"], one["losses"], strict=True):
        assert got["name"] == want["name"]
        assert abs(got["value"] - want["value"]) <= REL * abs(want["value"])
    close(summary["per_class"], one["per_class"])
    close(summary["calibration"], one["calibration"])
    for key in ("share_positive", "share_negative", "share_easy", "total"):
        assert abs(summary["anatomy"][key] - one["anatomy"][key]) <= REL * abs(one["anatomy"][key])
    assert summary["anatomy"]["count"] == one["anatomy"]["count"] == X.size


def test_a_multiclass_session_with_weights_and_ignored_samples(live: Live) -> None:
    options = {"kind": "multiclass", "losses": MULTICLASS, "per_class": True, "calibration_bins": 10}
    sid = create(live, **options)
    for i in range(0, 900, 250):
        assert put(live, sid, str(i), XM[i : i + 250], YM[i : i + 250], "npz").status_code == 201
    summary = live.client.get(f"/v1/score/sessions/{sid}").json()
    one = live.client.post(
        "/v1/score", json={"predictions": XM.tolist(), "labels": YM.tolist(), **options}
    ).json()
    for got, want in zip(summary["losses"], one["losses"], strict=True):
        assert abs(got["value"] - want["value"]) <= REL * abs(want["value"])
    close(summary["per_class"], one["per_class"])
    close(summary["calibration"], one["calibration"])
    assert sum(row["count"] for row in summary["per_class"]) == int((YM != -1).sum())


def test_a_retried_chunk_counts_once_and_other_data_under_its_id_is_409(live: Live) -> None:
    sid = create(live, losses=[{"name": "cross_entropy", "reduction": "sum"}])
    assert put(live, sid, "a", X[:10], Y[:10], "json").status_code == 201
    again = put(live, sid, "a", X[:10].astype(np.float64), Y[:10], "multipart")  # same numbers, other form
    assert again.status_code == 200 and again.json()["new"] is False
    conflict = put(live, sid, "a", X[10:20], Y[10:20], "npz")
    assert conflict.status_code == 409
    assert conflict.json()["field"] == "chunk_id" and "other data" in conflict.json()["detail"]
    summary = live.client.get(f"/v1/score/sessions/{sid}").json()
    assert summary["chunks"] == 1 and summary["elements"] == 30


def test_an_empty_session_has_no_means_yet(live: Live) -> None:
    sid = create(live)
    summary = live.client.get(f"/v1/score/sessions/{sid}").json()
    assert summary["chunks"] == 0 and summary["losses"] == [
        {"name": "focal", "reduction": "mean", "value": None}
    ]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"per_sample": True}, "per_sample"),
        ({"gradient": True}, "gradient"),
        ({"losses": [{"name": "focal", "reduction": "none"}]}, "losses[0].reduction"),
        ({"losses": [{"name": "focal", "gamma": -1}]}, "losses[0].gamma"),
        ({"losses": [{"name": "nope"}]}, "losses[0].name"),
        ({"calibration_bins": 0}, "calibration_bins"),
        ({"kind": "multiclass", "anatomy": True}, "anatomy"),
        ({"bogus": 1}, "bogus"),
        ({"per_class": 0}, "per_class"),
        ({"calibration_bins": True}, "calibration_bins"),
        ({"losses": [{"name": "focal", "background_class": False}]}, "losses[0].background_class"),
        ({"losses": [{"name": "focal", "weight": [1.0, True]}]}, "losses[0].weight"),
    ],
)
def test_options_a_session_cannot_take_are_refused_naming_the_field(live: Live, options, field) -> None:
    r = live.client.post("/v1/score/sessions", json=options)
    assert r.status_code in (400, 422), r.text
    assert r.json()["field"] == field


def test_bad_chunks_and_unknown_sessions_are_client_errors(live: Live) -> None:
    sid = create(live)
    base = f"/v1/score/sessions/{sid}/chunks"
    r = live.client.put(f"{base}/a", json={"predictions": [0.1], "labels": [1], "gamma": 3})
    assert r.status_code == 400 and r.json()["field"] == "gamma"
    r = live.client.put(f"{base}/a", json={"predictions": [], "labels": []})
    assert r.status_code == 400 and r.json()["field"] == "predictions"
    r = live.client.put(f"{base}/a", json={"predictions": [0.1, 0.2], "labels": [1]})
    assert r.status_code == 400
    r = live.client.put(f"{base}/a", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = live.client.put(f"{base}/{'x' * 129}", json={"predictions": [0.1], "labels": [1]})
    assert r.status_code == 400 and r.json()["field"] == "chunk_id"
    unknown = "0" * 32
    assert live.client.get(f"/v1/score/sessions/{unknown}").status_code == 404
    assert live.client.get("/v1/score/sessions/not-an-id").status_code == 404
    assert (
        live.client.put(f"/v1/score/sessions/{unknown}/chunks/a", json={"predictions": [1]}).status_code
        == 404
    )
    assert live.client.delete(f"/v1/score/sessions/{sid}").status_code == 204
    assert live.client.delete(f"/v1/score/sessions/{sid}").status_code == 404
    assert live.client.put(f"{base}/a", json={"predictions": [0.1], "labels": [1]}).status_code == 404


def test_an_idle_session_expires_after_the_ttl_and_sessions_outlive_the_service(
    store_url: str, standin_repo: Path
) -> None:
    with run_service(standin_repo, score_store=store_url, score_session_ttl_s=1.0) as live:
        sid = create(live)
        assert put(live, sid, "a", X[:5], Y[:5]).status_code == 201
        time.sleep(1.3)
        assert live.client.get(f"/v1/score/sessions/{sid}").status_code == 404
        kept = create(live, losses=[SUM_CE])
        assert put(live, kept, "a", X[:5], Y[:5]).status_code == 201
    with run_service(standin_repo, score_store=store_url) as live:  # a restarted service, the same store
        summary = live.client.get(f"/v1/score/sessions/{kept}").json()
        assert summary["chunks"] == 1 and summary["elements"] == 15
        doc = {"predictions": X[:5].tolist(), "labels": Y[:5].tolist(), "losses": [SUM_CE]}
        expected = json.loads(live.client.post("/v1/score", json=doc).text)["losses"][0]["value"]
        assert abs(summary["losses"][0]["value"] - expected) <= REL * expected


def test_reading_folds_chunks_in_batches_and_the_answer_does_not_change(live: Live, monkeypatch) -> None:
    from service.core import score_sessions

    monkeypatch.setattr(score_sessions, "FOLD_BATCH", 3)  # the service runs in this process
    sid = create(live, losses=LOSSES, calibration_bins=5)
    bounds = np.linspace(0, N, 13).astype(int)
    for k in range(10):
        assert (
            put(
                live, sid, f"c{k:02d}", X[bounds[k] : bounds[k + 1]], Y[bounds[k] : bounds[k + 1]]
            ).status_code
            == 201
        )
    first = live.client.get(f"/v1/score/sessions/{sid}").json()  # folds the ten: 3 + 3 + 3 + 1
    assert first == live.client.get(f"/v1/score/sessions/{sid}").json()
    again = put(live, sid, "c04", X[bounds[4] : bounds[5]], Y[bounds[4] : bounds[5]])
    assert again.status_code == 200 and again.json()["new"] is False  # folded, still counted once
    for k in (10, 11):
        assert (
            put(
                live, sid, f"c{k:02d}", X[bounds[k] : bounds[k + 1]], Y[bounds[k] : bounds[k + 1]]
            ).status_code
            == 201
        )
    summary = live.client.get(f"/v1/score/sessions/{sid}").json()
    one = live.client.post(
        "/v1/score",
        json={"predictions": X.tolist(), "labels": Y.tolist(), "losses": LOSSES, "calibration_bins": 5},
    ).json()
    assert summary["chunks"] == 12 and summary["elements"] == X.size
    for got, want in zip(summary["losses"], one["losses"], strict=True):
        assert abs(got["value"] - want["value"]) <= REL * abs(want["value"])
    close(summary["calibration"], one["calibration"])


def test_a_store_that_cannot_be_reached_is_a_503_not_a_500(standin_repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    for url in (f"sqlite:///{blocker}/sessions.sqlite3", "postgresql://nobody:x@127.0.0.1:1/none"):
        with run_service(standin_repo, score_store=url) as service:
            started = time.monotonic()
            r = service.client.post("/v1/score/sessions", json={"losses": [{"name": "focal"}]}, timeout=60)
            assert r.status_code == 503, (url, r.text)
            assert "scoring-session store is unavailable" in r.json()["detail"], r.text
            assert r.headers["retry-after"]
            assert time.monotonic() - started < 30, "the 503 came only after the pool's wait"
    # a failed open is tried again on the next call: once the folder can be made, the same service works
    with run_service(standin_repo, score_store=f"sqlite:///{blocker}/sessions.sqlite3") as service:
        assert (
            service.client.post("/v1/score/sessions", json={"losses": [{"name": "focal"}]}).status_code == 503
        )
        blocker.unlink()
        sid = service.client.post("/v1/score/sessions", json={"losses": [{"name": "focal"}]}).json()["id"]
        assert service.client.get(f"/v1/score/sessions/{sid}").status_code == 200
