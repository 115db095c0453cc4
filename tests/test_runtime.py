"""`service.Runtime`: REST and gRPC as siblings over one state, port 0 read back, one drain, one grace
budget."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service._proto import detection_pb2, detection_pb2_grpc
from tests.live import run_in_thread
from tests.service.standin import write_repository


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_repository(tmp_path_factory.mktemp("runtime-repo"))


def _refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_both_servers_listen_on_the_ports_they_report_and_close_them(repo: Path) -> None:
    with run_in_thread(repo) as service:
        assert service.http_port > 0 and service.grpc_port > 0
        assert service.http_port != service.grpc_port
        assert service.client.get("/v2/health/ready").json() == {"ready": True}
        with grpc.insecure_channel(service.grpc_target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # both servers share one state: a REST request shows in the metrics gRPC calls count in too
        assert service.runtime.grpc.state is service.state is service.runtime.app.state.service
        ports = (service.http_port, service.grpc_port)
    assert all(_refused(port) for port in ports)


def _idle_stream(opened: threading.Event) -> Iterator[detection_pb2.DetectRequest]:
    opened.set()
    time.sleep(30)  # never sends: an idle stream the drain must not wait for past its budget
    yield from ()


def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.slow
def test_one_grace_budget_for_the_whole_process(repo: Path) -> None:
    grace = 2.0
    with run_in_thread(repo, shutdown_grace_s=grace) as service:
        # the readiness poll's request may still be leaving: only after it does, in flight means the stream
        _until(lambda: service.state.inflight == 0, "the readiness poll never left")
        channel = grpc.insecure_channel(service.grpc_target)
        stub = detection_pb2_grpc.DetectionServiceStub(channel)
        opened = threading.Event()
        stream = stub.DetectStream(_idle_stream(opened), timeout=60)
        assert opened.wait(10)
        _until(lambda: service.state.inflight > 0, "the stream never reached the server")
        started = time.monotonic()
        service.runtime.shutdown()
        _until(lambda: service.client.get("/v2/health/ready").status_code == 503, "readiness stayed true")
        with pytest.raises(grpc.RpcError) as ended:
            list(stream)  # ended cleanly when the budget runs out
        cut = time.monotonic() - started
        channel.close()
    total = time.monotonic() - started  # leaving the block joins the runtime's thread
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE, ended.value.details()
    assert "shutting down" in (ended.value.details() or "")
    assert cut >= grace * 0.8, "the drain gave the accepted stream its grace period"
    assert total < grace + 3.0, f"the process took {total:.1f} s to stop with a grace of {grace} s"
