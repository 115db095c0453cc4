"""The batcher's limits seen through gRPC: a full queue is RESOURCE_EXHAUSTED, a request past its timeout is
DEADLINE_EXCEEDED, with the same messages as the REST side (the one exception tree, mapped once)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from PIL import Image

from service._proto import detection_pb2, detection_pb2_grpc
from tests.service.conftest import run_service
from tests.service.standin import write_repository


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_repository(tmp_path_factory.mktemp("limits-repo"), versions=(1,))


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(buf, "PNG")
    return buf.getvalue()


def _detect(port: int) -> grpc.RpcError | None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = detection_pb2_grpc.DetectionServiceStub(channel)
        try:
            stub.Detect(detection_pb2.DetectRequest(images=[_png()], model="standin"), timeout=30)
        except grpc.RpcError as error:
            return error
    return None


def test_full_queue_is_resource_exhausted(repo: Path) -> None:
    with run_service(repo, queue_size=1, max_queue_delay_ms=1500) as service:
        port = service.grpc_port
        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(lambda _: _detect(port), range(3)))
    errors = [e for e in outcomes if e is not None]
    assert any(e is None for e in outcomes), "at least one request is served"
    assert errors, "a request beyond the queue's size is refused"
    for error in errors:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
        assert "queue is full" in (error.details() or "")


def test_request_past_its_timeout_is_deadline_exceeded(repo: Path) -> None:
    with run_service(repo, request_timeout_s=0.2, max_queue_delay_ms=3000) as service:
        error = _detect(service.grpc_port)
    assert error is not None
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.details()
    assert "timeout" in (error.details() or "")
