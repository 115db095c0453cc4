"""Clean errors instead of 500s or silent guesses (hardening items 7-12 and 15)."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from PIL import Image

from service._proto import (
    array_pb2,
    inference_v2_pb2,
    inference_v2_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)
from service.errors import InternalError
from service.rest.problems import problem_response
from tests.live import ROOT, LiveService
from tests.service.images import RED_BOX, encode, iou, red_box_image

from .conftest import problem


def npy_header(shape: str, dtype: str = "<f4") -> bytes:
    """A .npy header (format 1.0) with any shape text, and no data."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (63 - (len(text) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()


def npz_members(**members: bytes) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


# --- 7. deep JSON
def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("path", "body", "query"),
    [
        ("/v1/score", '{"predictions": %s}', ""),
        ("/v1/models/standin/detect", '{"images": %s}', ""),
        ("/v2/models/focal_loss/infer", '{"inputs": %s}', ""),
        ("/v1/score", None, "options"),
    ],
)
def test_json_nested_too_deep_is_a_400_naming_the_limit(server: LiveService, path, body, query) -> None:
    c = server.client
    if query:
        arrays = io.BytesIO()
        np.savez(arrays, predictions=np.zeros(2), labels=np.zeros(2))
        r = c.post(
            path,
            params={"options": deep(3000)},
            content=arrays.getvalue(),
            headers={"content-type": "application/x-npz"},
        )
    else:
        r = c.post(path, content=(body % deep(3000)).encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "nested deeper than 1024" in r.text
    assert c.get("/v2/health/live").status_code == 200  # the same keep-alive connection still serves


def test_an_internal_error_says_the_connection_closes() -> None:
    response = problem_response(InternalError("boom"), "/v1/score")
    assert response.status_code == 500 and response.headers["connection"] == "close"


# --- 8. a .npy header whose shape overflows int64
@pytest.mark.parametrize("shape", ["(4294967296, 4294967296, 16)", "(9223372036854775807, 3)"])
def test_an_overflowing_npy_shape_is_refused(server: LiveService, shape: str) -> None:
    member = npy_header(shape)
    r = server.client.post(
        "/v1/score",
        content=npz_members(predictions=member, labels=member),
        headers={"content-type": "application/x-npz"},
    )
    problem(r, 413, "more than the limit")
    multipart = server.client.post("/v1/score", files={"predictions": ("p.npy", member)})
    problem(multipart, 413, "more than the limit")


# --- 9. typed gRPC contents, malformed protobuf, content coding
@pytest.mark.parametrize(
    ("datatype", "field", "values"),
    [
        ("INT8", "int_contents", [1000]),
        ("UINT8", "uint_contents", [300]),
        ("INT16", "int_contents", [-40000]),
    ],
)
def test_typed_contents_out_of_range_are_refused(server: LiveService, datatype, field, values) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = inference_v2_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = inference_v2_pb2.ModelInferRequest(model_name="focal_loss")
        for name in ("logits", "targets"):
            tensor = request.inputs.add(name=name, datatype=datatype, shape=[1])
            getattr(tensor.contents, field).extend(values)
        with pytest.raises(grpc.RpcError) as err:
            stub.ModelInfer(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"out of range for {datatype}" in err.value.details()


@pytest.mark.parametrize(
    "method",
    [
        "/focalserve.v1.DetectionService/Detect",
        "/inference.GRPCInferenceService/ModelInfer",
        "/focalserve.v1.ScoringService/Score",
    ],
)
def test_malformed_protobuf_is_invalid_argument(server: LiveService, method: str) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary(method, request_serializer=lambda x: x, response_deserializer=lambda x: x)
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xff\xff\xff", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "request" in err.value.details()


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(b'{"inputs": []}') + b"trailing junk"),
        ("gzip", gzip.compress(b'{"inputs": []}') + gzip.compress(b'{"inputs": []}')),
        ("deflate", zlib.compress(b'{"inputs": []}') + b"x"),
    ],
)
def test_coded_bodies_with_bytes_after_their_end_are_refused(server: LiveService, coding, body) -> None:
    r = server.client.post("/v2/models/focal_loss/infer", content=body, headers={"content-encoding": coding})
    assert r.status_code == 400 and "follow the end" in r.json()["error"]


# --- 10. empty arrays: one rule everywhere
def test_empty_arrays_are_refused_on_every_path(server: LiveService) -> None:
    empty = np.zeros(0, dtype=np.float32)
    c = server.client
    answers = {
        "json": c.post("/v1/score", json={"predictions": [], "labels": []}),
        "npz": c.post(
            "/v1/score",
            content=npz_members(predictions=_npy(empty), labels=_npy(empty)),
            headers={"content-type": "application/x-npz"},
        ),
        "multipart": c.post(
            "/v1/score", files={"predictions": ("p.npy", _npy(empty)), "labels": ("l.npy", _npy(empty))}
        ),
        "v2": c.post(
            "/v2/models/focal_loss/infer",
            json={
                "inputs": [
                    {"name": n, "shape": [0], "datatype": "FP32", "data": []} for n in ("logits", "targets")
                ]
            },
        ),
    }
    for path, r in answers.items():
        assert r.status_code == 400 and "is empty" in r.text, (path, r.text)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        packed = array_pb2.Array(dtype="float32", shape=[0], data=b"")
        with pytest.raises(grpc.RpcError) as err:
            stub.Score(scoring_pb2.ScoreRequest(predictions=packed, labels=packed), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "is empty" in err.value.details()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# --- 11. 405
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/score", "POST"),
        ("DELETE", "/v2/health/ready", "GET"),
        ("PUT", "/v1/models/standin/detect", "POST"),
    ],
)
def test_405_says_allow_and_is_titled_so(server: LiveService, method, path, allow) -> None:
    r = server.client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    body = r.json()
    assert body.get("title", "Method not allowed") == "Method not allowed"
    assert f"{method} is not allowed here" in body.get("detail", body.get("error", ""))


# --- 12. keys that are no keys
@pytest.mark.parametrize("keys", [",,", " , ", ","])
def test_api_keys_that_hold_no_key_refuse_to_start(tmp_path: Path, keys: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "service", "--model-repository", str(tmp_path), "--http-port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**__import__("os").environ, "FOCALSERVE_API_KEYS": keys},
    )
    assert out.returncode == 2 and "holds no key" in out.stderr


# --- 15. EXIF orientation
@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_boxes_are_in_the_frame_the_user_sees(server: LiveService, orientation: int) -> None:
    shown = red_box_image()  # 200 x 100 with RED_BOX, as a viewer displays it
    stored = shown.transpose(
        {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}[
            orientation
        ]
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    r = server.client.post(
        "/v1/models/standin/detect",
        content=encode(stored, exif=exif.tobytes()),
        headers={"content-type": "image/png"},
    )
    image = r.json()["images"][0]
    assert (image["width"], image["height"]) == shown.size
    assert len(image["boxes"]) == 1 and iou(image["boxes"][0], RED_BOX) > 0.8, image["boxes"]


def test_the_api_documents_the_exif_rule(server: LiveService) -> None:
    spec = httpx.get(server.http_url + "/openapi.json").json()
    described = json.dumps(spec["paths"]["/v1/models/{name}/detect"])
    assert "EXIF" in described
