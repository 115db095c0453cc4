"""Open Inference Protocol over gRPC through our own stubs (errors, typed contents), health and reflection."""

from __future__ import annotations

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

import losses
from service._proto import inference_v2_pb2 as pb
from service._proto import inference_v2_pb2_grpc as pb_grpc
from tests.grpc.conftest import AUTH
from tests.service.standin import red_box_tensor

SERVICES = {
    "focalserve.v1.DetectionService",
    "focalserve.v1.ScoringService",
    "focalserve.v1.ScoreSessionService",
    "inference.GRPCInferenceService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


def raw_input(request: pb.ModelInferRequest, name: str, array: np.ndarray, datatype: str) -> None:
    request.inputs.add(name=name, datatype=datatype, shape=array.shape)
    request.raw_input_contents.append(np.ascontiguousarray(array).tobytes())


def test_model_infer_with_typed_contents_equals_the_loss_library(stub) -> None:
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], np.float32)
    targets = np.array([[1, 0, 0], [0, 1, 1]], np.float32)
    request = pb.ModelInferRequest(model_name="focal_loss", id="typed")
    request.inputs.add(name="logits", datatype="FP32", shape=[2, 3]).contents.fp32_contents.extend(
        logits.ravel()
    )
    request.inputs.add(name="targets", datatype="FP32", shape=[2, 3]).contents.fp32_contents.extend(
        targets.ravel()
    )
    request.parameters["gamma"].double_param = 1.0
    request.parameters["reduction"].string_param = "none"
    response = stub.ModelInfer(request, metadata=AUTH, timeout=30)
    assert (response.model_name, response.model_version, response.id) == ("focal_loss", "1", "typed")
    (out,) = response.outputs
    assert (out.name, out.datatype, list(out.shape)) == ("loss", "FP64", [2, 3])
    got = np.frombuffer(response.raw_output_contents[0], "<f8").reshape(2, 3)
    np.testing.assert_array_equal(got, losses.focal_loss(logits, targets, gamma=1.0, reduction="none"))


def test_model_infer_detector_raw(stub) -> None:
    # three images: a red rectangle, one touching the corner, and none (no detection: a zero box)
    boxes = [(10, 12, 40, 44), (50, 0, 64, 9), (0, 0, 0, 0)]
    request = pb.ModelInferRequest(model_name="detector", model_version="1")
    raw_input(request, "images", red_box_tensor(boxes, seed=11), "FP32")
    request.outputs.add(name="num_detections")
    request.outputs.add(name="boxes")
    response = stub.ModelInfer(request, metadata=AUTH, timeout=30)
    assert [o.name for o in response.outputs] == ["num_detections", "boxes"]
    assert np.frombuffer(response.raw_output_contents[0], "<i8").tolist() == [1, 1, 0]
    assert list(response.outputs[1].shape) == [3, 1, 4]
    got = np.frombuffer(response.raw_output_contents[1], "<f4").reshape(3, 1, 4)
    np.testing.assert_array_equal(got[:, 0], np.array(boxes, np.float32))


def _infer_error(stub, request: pb.ModelInferRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelInfer(request, metadata=AUTH, timeout=30)
    return err.value


def _detector(array: np.ndarray, datatype: str = "FP32", name: str = "images") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="detector")
    raw_input(request, name, array, datatype)
    return request


@pytest.mark.parametrize(
    ("request_", "code", "needle"),
    [
        (_detector(np.zeros((1, 3, 32, 32), np.float32)), grpc.StatusCode.INVALID_ARGUMENT, "inputs.images"),
        (_detector(np.zeros((1, 3, 64, 64), np.float64), "FP64"), grpc.StatusCode.INVALID_ARGUMENT, "FP64"),
        (_detector(np.zeros((1, 3, 64, 64), np.float32), "FP33"), grpc.StatusCode.INVALID_ARGUMENT, "FP33"),
        (
            _detector(np.zeros((1, 3, 64, 64), np.float32), name="pixels"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'pixels'",
        ),
        (_detector(np.zeros((1, 3, 64, 63), np.float32)), grpc.StatusCode.INVALID_ARGUMENT, "bytes of data"),
        (pb.ModelInferRequest(model_name="nope"), grpc.StatusCode.NOT_FOUND, "'nope'"),
        (
            pb.ModelInferRequest(model_name="detector", model_version="9"),
            grpc.StatusCode.NOT_FOUND,
            "version",
        ),
        (
            pb.ModelInferRequest(model_name="focal_loss", model_version="2"),
            grpc.StatusCode.NOT_FOUND,
            "version",
        ),
    ],
)
def test_model_infer_errors(stub, request_, code, needle) -> None:
    # the wrong byte count: shape [1,3,64,63] declared, [1,3,64,64] bytes sent
    if needle == "bytes of data":
        request_.inputs[0].shape[:] = [1, 3, 64, 64]
        request_.raw_input_contents[0] += b"\0" * 4
    error = _infer_error(stub, request_)
    assert error.code() == code, error.details()
    assert needle in error.details()


def test_model_infer_loss_errors_name_the_problem(stub) -> None:
    def loss_request(logits: np.ndarray, targets: np.ndarray, **params: float | str) -> pb.ModelInferRequest:
        request = pb.ModelInferRequest(model_name="focal_loss")
        raw_input(request, "logits", logits, "FP32")
        raw_input(request, "targets", targets, "FP32")
        for key, value in params.items():
            if isinstance(value, str):
                request.parameters[key].string_param = value
            else:
                request.parameters[key].double_param = value
        return request

    ok = np.zeros((2, 2), np.float32)
    cases = [
        (loss_request(np.array([[np.nan, 0]] * 2, np.float32), ok), "inputs.logits"),
        (loss_request(ok, np.zeros((2, 3), np.float32)), "inputs.targets"),
        (loss_request(ok, ok, gamma=-1.0), "parameters.gamma"),
        (loss_request(ok, ok, alpha=1.5), "parameters.alpha"),
        (loss_request(ok, ok, reduction="median"), "parameters.reduction"),
        (loss_request(ok, ok, colour="red"), "parameters.colour"),
    ]
    for request, needle in cases:
        error = _infer_error(stub, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert needle in error.details(), error.details()


def test_model_infer_rejects_mixed_and_mismatched_contents(stub) -> None:
    request = _detector(np.zeros((1, 3, 64, 64), np.float32))
    request.inputs[0].contents.fp32_contents.append(1.0)
    assert "both contents and raw_input_contents" in _infer_error(stub, request).details()
    request = pb.ModelInferRequest(model_name="detector")
    request.inputs.add(name="images", datatype="FP32", shape=[1, 3, 64, 64]).contents.fp32_contents.extend(
        [0.0]
    )
    assert "1 values in contents.fp32_contents" in _infer_error(stub, request).details()
    request = _detector(np.zeros((1, 3, 64, 64), np.float32))
    request.outputs.add(name="masks")
    assert "no output 'masks'" in _infer_error(stub, request).details()


def test_server_and_model_metadata(stub) -> None:
    meta = stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=AUTH)
    assert meta.name == "focalserve" and "binary_tensor_data" in meta.extensions
    assert stub.ServerLive(pb.ServerLiveRequest(), metadata=AUTH).live
    assert stub.ServerReady(pb.ServerReadyRequest(), metadata=AUTH).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="focal_loss"), metadata=AUTH).ready
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name="detector"), metadata=AUTH)
    assert (model.platform, list(model.versions)) == ("onnxruntime_onnx", ["1"])
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [
        ("images", "FP32", [-1, 3, 64, 64])
    ]
    assert [t.name for t in model.outputs] == ["boxes", "scores", "labels", "num_detections"]
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelReady(pb.ModelReadyRequest(name="nope"), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_reports_serving_without_an_api_key(channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    services = (
        "inference.GRPCInferenceService",
        "focalserve.v1.ScoringService",
        "focalserve.v1.ScoreSessionService",
    )
    for service in ("", *services):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING, service
    with pytest.raises(grpc.RpcError) as err:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_and_describes_every_service(channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    assert set(database.get_services()) == SERVICES
    scoring = database.FindFileContainingSymbol("focalserve.v1.ScoringService")
    assert scoring.name == "focalserve/scoring.proto"
    assert [m.name for m in scoring.service[0].method] == ["Score"]
    sessions = database.FindFileContainingSymbol("focalserve.v1.ScoreSessionService")
    assert sessions.name == "focalserve/score_sessions.proto"
    assert [m.name for m in sessions.service[0].method] == [
        "CreateScoreSession",
        "AppendScoreChunk",
        "GetScoreSession",
        "DeleteScoreSession",
    ]
    inference = database.FindFileContainingSymbol("inference.ModelInferRequest")
    assert inference.name == "focalserve/inference_v2.proto"


def test_grpc_calls_are_counted_in_the_request_metrics(stub, service) -> None:
    stub.ServerLive(pb.ServerLiveRequest(), metadata=AUTH)
    with pytest.raises(grpc.RpcError):
        stub.ModelReady(pb.ModelReadyRequest(name="nope"), metadata=AUTH)
    text = httpx.get(f"{service.http_url}/metrics", timeout=10).text
    live = 'method="GRPC",route="/inference.GRPCInferenceService/ServerLive",status="OK"'
    missing = 'method="GRPC",route="/inference.GRPCInferenceService/ModelReady",status="NOT_FOUND"'
    assert live in text and missing in text
