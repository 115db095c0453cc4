"""POST /v1/score over HTTP: values equal the losses package's (JSON, .npz, multipart .npy); errors."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest

import losses

from .conftest import Live
from .test_errors_http import problem

RNG = np.random.default_rng(0)
X = RNG.normal(0, 2, (6, 5))
Y = (RNG.random((6, 5)) < 0.3).astype(np.float64)
XM = RNG.normal(0, 1, (7, 4))
YM = RNG.integers(0, 4, 7)


def npz_body(**arrays: np.ndarray) -> bytes:
    """An ``np.savez`` archive of ``arrays`` (the binary scoring body)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


X32 = X.astype(np.float32)


def post_npz(live: Live, params: dict, headers: dict | None = None) -> httpx.Response:
    """``X32`` / ``Y`` as an npz body (``application/x-npz`` unless ``headers`` say otherwise), with scoring
    options in the query string."""
    body = npz_body(predictions=X32, labels=Y)
    headers = {"content-type": "application/x-npz"} | (headers or {})
    return live.client.post("/v1/score", content=body, headers=headers, params=params)


def post(live: Live, doc: dict) -> dict:
    r = live.client.post("/v1/score", json=doc)
    assert r.status_code == 200, r.text
    return r.json()


def test_json_values_equal_the_library(live: Live) -> None:
    doc = {
        "predictions": X.tolist(),
        "labels": Y.tolist(),
        "kind": "binary",
        "from_logits": True,
        "losses": [
            {"name": "focal", "alpha": 0.25, "gamma": 2.0, "reduction": "mean"},
            {"name": "cross_entropy"},
            {"name": "focal_star", "gamma": 3.0, "beta": 0.5, "reduction": "sum"},
            {"name": "hard_truncated", "m": 0.7},
            {"name": "soft_truncated", "m": 0.6, "k": 4.0},
            {"name": "focal", "alpha": None, "gamma": 0.5, "normalizer": 3, "reduction": "sum"},
        ],
    }
    body = post(live, doc)
    got = [v["value"] for v in body["losses"]]
    want = [
        losses.focal_loss(X, Y, kind="binary", alpha=0.25, gamma=2.0, reduction="mean"),
        losses.cross_entropy(X, Y, kind="binary"),
        losses.focal_loss_star(X, Y, kind="binary", gamma=3.0, beta=0.5, reduction="sum"),
        losses.hard_truncated_cross_entropy(X, Y, kind="binary", m=0.7),
        losses.soft_truncated_cross_entropy(X, Y, kind="binary", m=0.6, k=4.0),
        losses.focal_loss(X, Y, kind="binary", alpha=None, gamma=0.5, normalizer=3, reduction="sum"),
    ]
    assert got == [float(w) for w in want]  # exactly: the same code ran
    assert [v["name"] for v in body["losses"]][:2] == ["focal", "cross_entropy"]
    assert body["clamped_count"] == 0 and body["elements"] == X.size
    assert "anatomy" not in body and "per_sample" not in body["losses"][0]


def test_multiclass_per_sample_gradient_anatomy(live: Live) -> None:
    doc = {
        "predictions": XM.tolist(),
        "labels": YM.tolist(),
        "kind": "multiclass",
        "losses": [{"name": "cross_entropy", "label_smoothing": 0.1}, {"name": "focal", "alpha": None}],
        "per_sample": True,
        "gradient": True,
    }
    body = post(live, doc)
    ce = body["losses"][0]
    assert ce["value"] == float(losses.cross_entropy(XM, YM, kind="multiclass", label_smoothing=0.1))
    np.testing.assert_array_equal(
        ce["per_sample"],
        losses.cross_entropy(XM, YM, kind="multiclass", label_smoothing=0.1, reduction="none"),
    )
    np.testing.assert_array_equal(
        ce["gradient"], losses.loss_gradient("cross_entropy", XM, YM, kind="multiclass", label_smoothing=0.1)
    )
    assert np.asarray(body["losses"][1]["gradient"]).shape == XM.shape


def test_anatomy_and_probabilities_with_clamping(live: Live) -> None:
    p = np.array([0.0, 0.2, 1.0, 0.9])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    body = post(
        live,
        {
            "predictions": p.tolist(),
            "labels": y.tolist(),
            "from_logits": False,
            "losses": [{"name": "focal"}],
            "anatomy": True,
        },
    )
    assert body["clamped_count"] == losses.clamped_count(p, from_logits=False) == 2
    assert body["losses"][0]["value"] == float(losses.focal_loss(p, y, from_logits=False))
    assert body["anatomy"]["loss"] == "focal" and body["anatomy"]["count"] == 4


def test_entropy_needs_no_labels(live: Live) -> None:
    probs = np.array([[0.5, 0.5], [0.9, 0.1]])
    body = post(
        live,
        {
            "predictions": probs.tolist(),
            "kind": "multiclass",
            "from_logits": False,
            "losses": [{"name": "entropy", "base": 2}],
        },
    )
    assert body["losses"][0]["value"] == float(
        losses.entropy(probs, kind="multiclass", from_logits=False, base=2, reduction="mean")
    )


def test_npz_body_with_query_options(live: Live) -> None:
    r = post_npz(live, {"losses": json.dumps([{"name": "focal", "gamma": 1.5}]), "per_sample": "true"})
    assert r.status_code == 200, r.text
    v = r.json()["losses"][0]
    assert v["value"] == float(losses.focal_loss(X32, Y, gamma=1.5))
    np.testing.assert_array_equal(v["per_sample"], losses.focal_loss(X32, Y, gamma=1.5, reduction="none"))
    # comma-separated names and octet-stream work too
    r = post_npz(live, {"losses": "focal,cross_entropy"}, {"content-type": "application/octet-stream"})
    assert [v["value"] for v in r.json()["losses"]] == [
        float(losses.focal_loss(X32, Y)),
        float(losses.cross_entropy(X32, Y, kind="binary")),
    ]


def test_multipart_npy_parts_with_json_options(live: Live) -> None:
    def npy(a: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    options = {"kind": "multiclass", "losses": [{"name": "focal", "alpha": None, "gamma": 2.0}]}
    r = live.client.post(
        "/v1/score",
        files={
            "predictions": ("p.npy", npy(XM), "application/octet-stream"),
            "labels": ("l.npy", npy(YM), "application/octet-stream"),
        },
        data={"options": json.dumps(options)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["losses"][0]["value"] == float(losses.focal_loss(XM, YM, kind="multiclass", alpha=None))


@pytest.mark.parametrize(
    ("doc", "status", "field"),
    [
        ({"predictions": [[1.0, 2.0]], "labels": [[1.0]], "losses": [{"name": "focal"}]}, 400, "labels"),
        ({"predictions": [1.0, float("nan")], "labels": [1, 0]}, 400, "predictions"),
        ({"predictions": [[1.0], [1.0, 2.0]], "labels": [1, 0]}, 400, "predictions"),
        ({"predictions": ["a", "b"], "labels": [1, 0]}, 400, "predictions"),
        (
            {
                "predictions": [[1.0, 2.0]],
                "labels": [5],
                "kind": "multiclass",
                "losses": [{"name": "cross_entropy"}],
            },
            400,
            "labels",
        ),
        (
            {"predictions": [1.0], "labels": [1], "losses": [{"name": "focal", "gamma": -1}]},
            400,
            "losses[0].gamma",
        ),
        (
            {"predictions": [1.0], "labels": [1], "losses": [{"name": "focal", "alpha": 2}]},
            400,
            "losses[0].alpha",
        ),
        ({"predictions": [1.0], "labels": [1], "losses": [{"name": "hinge"}]}, 400, "losses[0].name"),
        (
            {"predictions": [1.0], "labels": [1], "losses": [{"name": "focal", "gama": 2}]},
            422,
            "losses[0].gama",
        ),
        ({"predictions": [1.0], "labels": [1], "kind": "multilabel"}, 422, "kind"),
        ({"labels": [1]}, 400, "predictions"),
    ],
)
def test_score_errors_name_the_field(live: Live, doc: dict, status: int, field: str) -> None:
    r = live.client.post("/v1/score", content=json.dumps(doc), headers={"content-type": "application/json"})
    problem(r, status, field)


def test_binary_body_errors(live: Live) -> None:
    problem(
        live.client.post("/v1/score", content=b"PK garbage", headers={"content-type": "application/x-npz"}),
        400,
    )
    no_labels = npz_body(predictions=X)
    problem(
        live.client.post("/v1/score", content=no_labels, headers={"content-type": "application/x-npz"}),
        400,
        "labels",
    )
    problem(
        live.client.post("/v1/score", content=b"x", headers={"content-type": "text/csv"}), 415, "Content-Type"
    )
    r = live.client.post(
        "/v1/score", files={"predictions": ("p.npy", b"not npy", "application/octet-stream")}
    )
    problem(r, 400, "predictions")


def test_npz_answer_for_large_arrays(live: Live) -> None:
    doc = {
        "predictions": X.tolist(),
        "labels": Y.tolist(),
        "losses": [{"name": "focal"}, {"name": "cross_entropy"}],
        "per_sample": True,
        "gradient": True,
    }
    r = live.client.post("/v1/score", json=doc, headers={"accept": "application/x-npz"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npz"
    with np.load(io.BytesIO(r.content), allow_pickle=False) as npz:
        summary = json.loads(str(npz["summary"]))
        assert summary["losses"][0]["value"] == float(losses.focal_loss(X, Y))
        assert "per_sample" not in summary["losses"][0]
        np.testing.assert_array_equal(npz["losses.0.per_sample"], losses.focal_loss(X, Y, reduction="none"))
        np.testing.assert_array_equal(
            npz["losses.1.gradient"], losses.loss_gradient("cross_entropy", X, Y, kind="binary")
        )


def test_npz_in_npz_out(live: Live) -> None:
    """A binary request asking for a binary answer: per-sample values and gradients arrive unrounded."""
    options = {"losses": "focal", "per_sample": "true", "gradient": "true"}
    r = post_npz(live, options, {"accept": "application/x-npz"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npz", r.text
    with np.load(io.BytesIO(r.content), allow_pickle=False) as npz:
        assert json.loads(str(npz["summary"]))["losses"][0]["value"] == float(losses.focal_loss(X32, Y))
        per_sample = npz["losses.0.per_sample"]
        assert per_sample.dtype == np.float32
        np.testing.assert_array_equal(per_sample, losses.focal_loss(X32, Y, reduction="none"))
        np.testing.assert_array_equal(npz["losses.0.gradient"], losses.loss_gradient("focal", X32, Y))


def test_npz_with_bad_options_is_refused_before_the_body_is_used(live: Live) -> None:
    r = live.client.post(
        "/v1/score",
        content=b"not even an archive",
        headers={"content-type": "application/x-npz"},
        params={"kind": "ternary"},
    )
    problem(r, 422, "kind")
