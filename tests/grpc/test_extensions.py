"""ModelConfig, ModelStatistics and ModelStreamInfer through our own stubs, against the real service: the
messages equal the REST documents, the stream answers each request (a bad one with its error) and follows
the edge (API key, drain)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from google.protobuf import json_format

import losses
from service._proto import inference_v2_pb2 as pb
from service._proto import inference_v2_pb2_grpc as pb_grpc
from tests.grpc.conftest import API_KEY, AUTH
from tests.grpc.live import LiveService
from tests.live import run_in_thread
from tests.service.standin import red_box_tensor, write_repository

LOGITS = np.array([[2.0, -1.0], [0.5, -3.0]], np.float32)
TARGETS = np.array([[1, 0], [0, 0]], np.float32)


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def rest(service: LiveService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.http_url, headers={"x-api-key": API_KEY}, timeout=30) as client:
        yield client


def loss_request(i: int, *, bad: bool = False) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="focal_loss", id=str(i))
    for name, array in (("nope" if bad else "logits", LOGITS * (i + 1)), ("targets", TARGETS)):
        request.inputs.add(name=name, datatype="FP32", shape=array.shape)
        request.raw_input_contents.append(array.tobytes())
    return request


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


def test_a_stream_answers_every_request_and_a_bad_one_with_its_error(stub) -> None:
    def focal(name: str = "focal_loss") -> pb.ModelStatistics:
        request = pb.ModelStatisticsRequest(name=name)
        (entry,) = stub.ModelStatistics(request, metadata=AUTH, timeout=10).model_stats
        return entry

    before = focal()
    requests = [loss_request(i, bad=i == 3) for i in range(7)]
    answers = list(stub.ModelStreamInfer(iter(requests), metadata=AUTH, timeout=30))
    assert sorted(a.infer_response.id for a in answers) == [str(i) for i in range(7)]
    by_id = {a.infer_response.id: a for a in answers}
    bad = by_id.pop("3")
    assert "nope" in bad.error_message and bad.infer_response.model_name == "focal_loss"
    for i, answer in by_id.items():
        assert answer.error_message == ""
        loss = np.frombuffer(answer.infer_response.raw_output_contents[0], "<f8")
        expected = losses.focal_loss(LOGITS * (int(i) + 1), TARGETS)
        np.testing.assert_allclose(loss, [expected], rtol=1e-6)
    after = focal()
    assert after.inference_stats.success.count - before.inference_stats.success.count == 6
    assert after.inference_stats.fail.count - before.inference_stats.fail.count == 1


def test_a_stream_needs_the_api_key(stub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        list(stub.ModelStreamInfer(iter([loss_request(0)]), timeout=10))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_an_empty_stream_ends_cleanly(stub) -> None:
    assert list(stub.ModelStreamInfer(iter([]), metadata=AUTH, timeout=10)) == []


@pytest.mark.slow
def test_a_stream_is_served_in_the_drain_then_ends_unavailable(tmp_path: Path) -> None:
    grace = 2.0
    repo = write_repository(tmp_path / "repo")
    drained = threading.Event()

    def requests() -> Iterator[pb.ModelInferRequest]:
        yield from (loss_request(i) for i in range(2))
        drained.wait(10)
        yield from (loss_request(i) for i in range(2, 4))  # sent while draining: still answered
        time.sleep(30)  # then idle: the drain must not wait for it past its grace

    with run_in_thread(repo, shutdown_grace_s=grace) as service:
        channel = grpc.insecure_channel(service.grpc_target)
        stream = pb_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer(requests(), timeout=60)
        answers = [next(stream), next(stream)]
        service.runtime.shutdown()
        deadline = time.monotonic() + 10
        while not service.state.draining:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        drained.set()
        with pytest.raises(grpc.RpcError) as ended:
            answers.extend(stream)
        cut = time.monotonic() - started
        channel.close()
    assert sorted(a.infer_response.id for a in answers) == ["0", "1", "2", "3"]
    assert all(a.error_message == "" for a in answers)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in (ended.value.details() or "")
    assert grace * 0.5 <= cut < grace + 2
