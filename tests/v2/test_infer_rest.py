"""``POST /v2/models/{name}[/versions/{v}]/infer`` on the real service: tensors, coding, errors."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import httpx
import numpy as np
import pytest

import losses
from tests.service.standin import red_box_tensor

#: Two random model-input images, each with a red rectangle the stand-in detector finds exactly.
BOXES = ((10.0, 12.0, 40.0, 44.0), (33.0, 5.0, 64.0, 20.0))
IMAGES = red_box_tensor(BOXES, seed=3)


def binary_request(header: dict[str, Any], *blobs: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def split_response(response: httpx.Response) -> tuple[dict[str, Any], bytes]:
    length = response.headers.get("Inference-Header-Content-Length")
    body = response.content
    if length is None:
        return response.json(), b""
    return json.loads(body[: int(length)]), body[int(length) :]


def test_server_metadata_lists_the_extension_and_the_loss_models(http) -> None:
    assert "binary_tensor_data" in http.get("/v2").json()["extensions"]
    for name in (
        "focal_loss",
        "cross_entropy",
        "kl_divergence",
        "entropy",
        "focal_loss_star",
        "hard_truncated_cross_entropy",
        "soft_truncated_cross_entropy",
    ):
        assert http.get(f"/v2/models/{name}/ready").status_code == 200, name
    meta = http.get("/v2/models/entropy").json()
    assert [t["name"] for t in meta["inputs"]] == ["probabilities"]


def test_detector_json_nested_data(http) -> None:
    body = {
        "id": "n1",
        "inputs": [{"name": "images", "shape": [2, 3, 64, 64], "datatype": "FP32", "data": IMAGES.tolist()}],
        "outputs": [{"name": "boxes"}, {"name": "num_detections"}],
    }
    response = http.post("/v2/models/detector/infer", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["model_name"], out["model_version"], out["id"]) == ("detector", "1", "n1")
    boxes, count = out["outputs"]
    assert (boxes["name"], boxes["datatype"], boxes["shape"]) == ("boxes", "FP32", [2, 1, 4])
    assert boxes["data"] == [v for box in BOXES for v in box]
    assert (count["datatype"], count["data"]) == ("INT64", [1, 1])


def test_detector_binary_in_and_out(http) -> None:
    header = {
        "inputs": [
            {
                "name": "images",
                "shape": [2, 3, 64, 64],
                "datatype": "FP32",
                "parameters": {"binary_data_size": IMAGES.nbytes},
            }
        ],
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "labels"}, {"name": "scores", "parameters": {"binary_data": False}}],
    }
    body, headers = binary_request(header, IMAGES.tobytes())
    response = http.post("/v2/models/detector/versions/1/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    out, tail = split_response(response)
    labels, scores = out["outputs"]
    assert labels["parameters"]["binary_data_size"] == len(tail) == 16
    assert np.frombuffer(tail, "<i8").tolist() == [0, 0]
    assert scores["data"] == pytest.approx([0.9, 0.9])


def test_all_outputs_binary_when_none_requested(http) -> None:
    header = {
        "inputs": [
            {
                "name": "images",
                "shape": [1, 3, 64, 64],
                "datatype": "FP32",
                "parameters": {"binary_data_size": IMAGES[:1].nbytes},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    body, headers = binary_request(header, IMAGES[:1].tobytes())
    out, tail = split_response(http.post("/v2/models/detector/infer", content=body, headers=headers))
    assert [o["name"] for o in out["outputs"]] == ["boxes", "scores", "labels", "num_detections"]
    assert sum(o["parameters"]["binary_data_size"] for o in out["outputs"]) == len(tail) == 16 + 4 + 8 + 8


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compressed_request_and_response(http, coding) -> None:
    logits = np.random.default_rng(5).normal(size=(50, 3)).astype(np.float32)
    targets = (logits > 0.3).astype(np.float32)
    header = {
        "inputs": [
            {"name": "logits", "shape": [50, 3], "datatype": "FP32", "parameters": {"binary_data_size": 600}},
            {"name": "targets", "shape": [50, 3], "datatype": "FP32", "data": targets.ravel().tolist()},
        ],
        "parameters": {"gamma": 0.5, "alpha": "none", "reduction": "none", "binary_data_output": True},
    }
    body, headers = binary_request(header, logits.tobytes())
    packed = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
    headers |= {"Content-Encoding": coding, "Accept-Encoding": coding}
    response = http.post("/v2/models/focal_loss/infer", content=packed, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-encoding"] == coding  # httpx has decoded it: .content is plain
    out, tail = split_response(response)
    assert out["outputs"][0]["shape"] == [50, 3]
    expected = losses.focal_loss(logits, targets, gamma=0.5, alpha=None, reduction="none")
    np.testing.assert_array_equal(np.frombuffer(tail, "<f8").reshape(50, 3), expected)


def test_loss_models_equal_the_loss_library(http) -> None:
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(8, 4))
    classes = rng.integers(0, 4, size=8)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    cases = [
        (
            "cross_entropy",
            {"kind": "multiclass"},
            [("targets", classes, "INT64")],
            losses.cross_entropy(logits, classes, kind="multiclass"),
        ),
        (
            "kl_divergence",
            {"kind": "multiclass"},
            [("targets", probs, "FP64")],
            losses.kl_divergence(logits, probs, kind="multiclass"),
        ),
        (
            "focal_loss_star",
            {"gamma": 3, "beta": 0.5},
            [("targets", (logits > 0).astype(float), "FP64")],
            losses.focal_loss_star(logits, (logits > 0).astype(float), gamma=3.0, beta=0.5),
        ),
        (
            "soft_truncated_cross_entropy",
            {"k": 2.0},
            [("targets", (logits > 0).astype(float), "FP64")],
            losses.soft_truncated_cross_entropy(logits, (logits > 0).astype(float), k=2.0),
        ),
    ]
    for model, params, extra, expected in cases:
        inputs = [{"name": "logits", "shape": [8, 4], "datatype": "FP64", "data": logits.ravel().tolist()}]
        inputs += [
            {"name": n, "shape": list(a.shape), "datatype": d, "data": a.ravel().tolist()}
            for n, a, d in extra
        ]
        response = http.post(f"/v2/models/{model}/infer", json={"inputs": inputs, "parameters": params})
        assert response.status_code == 200, (model, response.text)
        assert response.json()["outputs"][0]["data"] == [float(expected)], model
    entropy = {
        "inputs": [{"name": "probabilities", "shape": [8, 4], "datatype": "FP64", "data": probs.tolist()}]
    }
    response = http.post("/v2/models/entropy/infer", json=entropy)
    assert response.json()["outputs"][0]["data"] == [float(losses.entropy(probs, reduction="mean"))]


def _images(**overrides: Any) -> dict[str, Any]:
    spec = {"name": "images", "shape": [1, 3, 64, 64], "datatype": "FP32", "data": [0.0] * (3 * 64 * 64)}
    return {"inputs": [spec | overrides]}


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "needle"),
    [
        ("/v2/models/nope/infer", {"json": _images()}, 404, "'nope'"),
        ("/v2/models/detector/versions/3/infer", {"json": _images()}, 404, "version"),
        (
            "/v2/models/detector/infer",
            {"json": _images(shape=[1, 3, 32, 32], data=[0.0] * 3072)},
            400,
            "inputs.images",
        ),
        ("/v2/models/detector/infer", {"json": _images(datatype="FP16")}, 400, "FP16"),
        ("/v2/models/detector/infer", {"json": _images(datatype="FLOAT")}, 400, "unknown datatype"),
        ("/v2/models/detector/infer", {"json": _images(data=[0.0] * 5)}, 400, "5 elements"),
        ("/v2/models/detector/infer", {"json": _images(name="pixels")}, 400, "'pixels'"),
        ("/v2/models/detector/infer", {"json": {"inputs": "x"}}, 400, "inputs"),
        ("/v2/models/detector/infer", {"json": _images() | {"outputs": [{"name": "masks"}]}}, 400, "masks"),
        ("/v2/models/detector/infer", {"content": b"{not json"}, 400, "not valid JSON"),
        (
            "/v2/models/detector/infer",
            {"content": b"{}", "headers": {"Inference-Header-Content-Length": "99"}},
            400,
            "Inference-Header",
        ),
        (
            "/v2/models/detector/infer",
            {"content": b"\x1f\x8bjunk", "headers": {"Content-Encoding": "gzip"}},
            400,
            "corrupt",
        ),
        (
            "/v2/models/detector/infer",
            {"content": b"{}", "headers": {"Content-Encoding": "br"}},
            400,
            "Content-Encoding",
        ),
        (
            "/v2/models/focal_loss/infer",
            {
                "json": {
                    "inputs": [
                        {"name": "logits", "shape": [1], "datatype": "FP32", "data": [float("nan")]},
                        {"name": "targets", "shape": [1], "datatype": "FP32", "data": [1]},
                    ]
                }
            },
            400,
            "logits",
        ),
        (
            "/v2/models/focal_loss/infer",
            {
                "json": {
                    "inputs": [
                        {"name": "logits", "shape": [1], "datatype": "FP32", "data": [1]},
                        {"name": "targets", "shape": [1], "datatype": "FP32", "data": [1]},
                    ],
                    "parameters": {"gamma": -2},
                }
            },
            400,
            "gamma",
        ),
    ],
)
def test_errors_are_error_objects_with_4xx(http, path, kwargs, status, needle) -> None:
    if "json" in kwargs and any(isinstance(x, float) and x != x for x in _floats(kwargs["json"])):
        kwargs = {"content": json.dumps(kwargs["json"]).encode()}  # NaN as the JSON extension literal
    response = http.post(path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert needle in body["error"]


def _floats(value: object) -> list[object]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _floats(v)]
    if isinstance(value, list):
        return [x for v in value for x in _floats(v)]
    return [value]


def test_binary_sizes_must_match_the_body(http) -> None:
    one = IMAGES[:1]
    spec: dict[str, Any] = {"name": "images", "shape": [1, 3, 64, 64], "datatype": "FP32"}
    header = {"inputs": [spec | {"parameters": {"binary_data_size": 10}}]}
    body, headers = binary_request(header, b"\0" * 4)
    response = http.post("/v2/models/detector/infer", content=body, headers=headers)
    assert response.status_code == 400 and "binary_data_size" in response.json()["error"]
    header = {"inputs": [spec | {"parameters": {"binary_data_size": one.nbytes}}]}
    body, headers = binary_request(header, one.tobytes() + b"extra")
    response = http.post("/v2/models/detector/infer", content=body, headers=headers)
    assert response.status_code == 400 and "5 binary bytes after" in response.json()["error"]
