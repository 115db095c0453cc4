"""ModelConfig and ModelStatistics through our own stubs, against the real service: the messages equal the
REST documents."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf import json_format

from service._proto import inference_v2_pb2 as pb
from service._proto import inference_v2_pb2_grpc as pb_grpc
from tests.grpc.conftest import API_KEY, AUTH
from tests.grpc.live import LiveService
from tests.service.standin import red_box_tensor


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def rest(service: LiveService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.http_url, headers={"x-api-key": API_KEY}, timeout=30) as client:
        yield client


def detector_request(rows: int) -> pb.ModelInferRequest:
    images = red_box_tensor([(10.0, 12.0, 40.0, 44.0)] * rows, seed=rows)
    request = pb.ModelInferRequest(model_name="detector")
    request.inputs.add(name="images", datatype="FP32", shape=images.shape)
    request.raw_input_contents.append(images.tobytes())
    return request


def test_model_config_is_the_rest_document(stub, rest) -> None:
    for name, version in (("detector", ""), ("detector", "1"), ("focal_loss", "")):
        answer = stub.ModelConfig(
            pb.ModelConfigRequest(name=name, version=version), metadata=AUTH, timeout=10
        )
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/config"
        document = rest.get(path).json()
        assert answer.config == json_format.ParseDict(document, pb.ModelConfigResponse().config), name
    detector = stub.ModelConfig(pb.ModelConfigRequest(name="detector"), metadata=AUTH, timeout=10).config
    assert detector.max_batch_size > 0 and list(detector.input[0].dims) == [3, 64, 64]
    assert detector.dynamic_batching.max_queue_delay_microseconds == 5000  # the service's 5 ms
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelConfig(pb.ModelConfigRequest(name="nope"), metadata=AUTH, timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_model_statistics_are_the_rest_document_and_count_the_calls(stub, rest) -> None:
    def stats(**request: str) -> pb.ModelStatisticsResponse:
        return stub.ModelStatistics(pb.ModelStatisticsRequest(**request), metadata=AUTH, timeout=10)

    (before,) = stats(name="detector", version="1").model_stats
    for rows in (1, 2, 2):
        stub.ModelInfer(detector_request(rows), metadata=AUTH, timeout=30)
    answer = stats(name="detector", version="1")
    document = rest.get("/v2/models/detector/versions/1/stats").json()
    assert answer == json_format.ParseDict(document, pb.ModelStatisticsResponse())
    (after,) = answer.model_stats
    assert after.inference_count - before.inference_count == 5
    assert after.inference_stats.success.count - before.inference_stats.success.count == 3
    assert after.execution_count - before.execution_count == 3
    assert after.inference_stats.compute_infer.ns > before.inference_stats.compute_infer.ns
    assert {b.batch_size for b in after.batch_stats} >= {1, 2}
    every = {(s.name, s.version) for s in stats().model_stats}
    assert {("detector", "1"), ("focal_loss", "1")} <= every
    for request, code in (
        ({"name": "nope"}, grpc.StatusCode.NOT_FOUND),
        ({"name": "detector", "version": "7"}, grpc.StatusCode.NOT_FOUND),
        ({"version": "1"}, grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stats(**request)
        assert err.value.code() == code, request
