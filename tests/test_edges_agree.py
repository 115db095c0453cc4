"""The REST and gRPC edges give the same answer to the same bad input: one status, one message.

Each case sends one hostile or careless request over both edges of one real service (port 0, read back) and
compares what a client sees: the HTTP status and the gRPC code named by the same `ServiceError`, and the same
one-line message (REST: the v2 ``error`` string, or problem+json's ``field: detail``; gRPC: the details).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from service._proto import (
    array_pb2,
    detection_pb2,
    detection_pb2_grpc,
    inference_v2_pb2,
    inference_v2_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)
from tests.live import LiveService, run_in_thread
from tests.service.standin import write_repository

KEY = "agree-key"
AUTH = (("x-api-key", KEY),)
LIMIT = 64  # max_score_elements: small, so the element limit is reached with a tiny request


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    repo = write_repository(tmp_path_factory.mktemp("agree-repo"))
    with run_in_thread(repo, api_keys=KEY, max_score_elements=LIMIT) as running:
        running.client.headers["x-api-key"] = KEY
        yield running


@pytest.fixture(scope="module")
def channel(service: LiveService) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(service.grpc_target) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


def grpc_error(call: Callable[..., Any], request: Any, metadata: Any = AUTH) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, metadata=metadata, timeout=10)
    return err.value


def problem_message(body: dict[str, Any]) -> str:
    """problem+json as the one-line message (`ServiceError.message`)."""
    field, detail = body.get("field"), body["detail"]
    return detail if not field or detail.startswith(field) else f"{field}: {detail}"


def packed(array: np.ndarray) -> array_pb2.Array:
    a = np.ascontiguousarray(array)
    return array_pb2.Array(dtype=a.dtype.name, shape=a.shape, data=a.tobytes())


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_a_bad_loss_parameter(service: LiveService, channel: grpc.Channel) -> None:
    logits = np.zeros((2, 2), dtype=np.float32)
    rest = service.client.post(
        "/v1/score",
        json={
            "predictions": logits.tolist(),
            "labels": logits.tolist(),
            "losses": [{"name": "focal", "reduction": "bogus"}],
        },
    )
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    request = scoring_pb2.ScoreRequest(predictions=packed(logits), labels=packed(logits))
    request.losses.add(name="focal", reduction="bogus")
    error = grpc_error(stub.Score, request)
    assert rest.status_code == 422 and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem_message(rest.json()) == error.details()
    assert error.details().startswith("losses[0].reduction: ")


def test_the_element_limit(service: LiveService, channel: grpc.Channel) -> None:
    big = np.zeros(LIMIT + 1, dtype=np.float32)
    rest = service.client.post(
        "/v1/score", content=npz(predictions=big, labels=big), headers={"content-type": "application/x-npz"}
    )
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    error = grpc_error(stub.Score, scoring_pb2.ScoreRequest(predictions=packed(big), labels=packed(big)))
    assert rest.status_code == 413 and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert problem_message(rest.json()) == error.details()
    assert f"more than the limit of {LIMIT}" in error.details()
    as_json = service.client.post("/v1/score", json={"predictions": big.tolist(), "labels": big.tolist()})
    assert as_json.status_code == 413 and problem_message(as_json.json()) == error.details()
    # the loss models of the Open Inference Protocol keep the same limit, with the same status
    infer = inference_v2_pb2_grpc.GRPCInferenceServiceStub(channel)
    v2_request = inference_v2_pb2.ModelInferRequest(model_name="focal_loss")
    for name in ("logits", "targets"):
        v2_request.inputs.add(name=name, datatype="FP32", shape=[LIMIT + 1])
        v2_request.raw_input_contents.append(big.tobytes())
    v2_error = grpc_error(infer.ModelInfer, v2_request)
    body = {
        "inputs": [
            {"name": n, "shape": [LIMIT + 1], "datatype": "FP32", "data": big.tolist()}
            for n in ("logits", "targets")
        ]
    }
    v2_rest = service.client.post("/v2/models/focal_loss/infer", json=body)
    assert v2_rest.status_code == 413 and v2_error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert v2_rest.json()["error"] == v2_error.details()


def test_raw_tensor_bytes_that_do_not_match_the_shape(service: LiveService, channel: grpc.Channel) -> None:
    data = np.zeros(3, dtype=np.float32).tobytes()  # 12 bytes for a [2, 2] FP32 tensor (16)
    infer = inference_v2_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = inference_v2_pb2.ModelInferRequest(model_name="focal_loss")
    for name in ("logits", "targets"):
        request.inputs.add(name=name, datatype="FP32", shape=[2, 2])
        request.raw_input_contents.append(data)
    error = grpc_error(infer.ModelInfer, request)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": n,
                    "shape": [2, 2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(data)},
                }
                for n in ("logits", "targets")
            ]
        }
    ).encode()
    rest = service.client.post(
        "/v2/models/focal_loss/infer",
        content=header + data + data,
        headers={
            "inference-header-content-length": str(len(header)),
            "content-type": "application/octet-stream",
        },
    )
    assert rest.status_code == 400 and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rest.json()["error"] == error.details()
    assert error.details() == "inputs.logits: 12 bytes of data for shape [2, 2] FP32 (expected 16)"


def test_an_unknown_v2_model(service: LiveService, channel: grpc.Channel) -> None:
    infer = inference_v2_pb2_grpc.GRPCInferenceServiceStub(channel)
    error = grpc_error(infer.ModelMetadata, inference_v2_pb2.ModelMetadataRequest(name="nope"))
    rest = service.client.get("/v2/models/nope")
    assert rest.status_code == 404 and error.code() == grpc.StatusCode.NOT_FOUND
    assert rest.json()["error"] == error.details()


def test_an_image_that_does_not_decode(service: LiveService, channel: grpc.Channel) -> None:
    junk = b"\x89PNG\r\n\x1a\n-not-really-a-png"
    rest = service.client.post(
        "/v1/models/standin/detect", json={"images": [base64.b64encode(junk).decode()]}
    )
    stub = detection_pb2_grpc.DetectionServiceStub(channel)
    error = grpc_error(stub.Detect, detection_pb2.DetectRequest(model="standin", images=[junk]))
    assert rest.status_code == 400 and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem_message(rest.json()) == error.details()
    assert error.details().startswith("images[0]: ")


def test_a_missing_api_key(service: LiveService, channel: grpc.Channel, tmp_path: Path) -> None:
    rest = service.client.get("/v1/models", headers={"x-api-key": ""})
    stub = detection_pb2_grpc.DetectionServiceStub(channel)
    error = grpc_error(stub.Detect, detection_pb2.DetectRequest(model="standin"), metadata=None)
    assert rest.status_code == 401 and error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert problem_message(rest.json()) == error.details()
