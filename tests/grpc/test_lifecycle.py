"""Health follows the service's life: SERVING when ready, NOT_SERVING from SIGTERM on, then a clean exit."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.grpc.live import live_service, make_repository

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.mark.slow
def test_health_watch_sees_not_serving_on_sigterm(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    with (
        live_service(repo, tmp_path / "service.log", shutdown_grace_s="5") as service,
        grpc.insecure_channel(service.grpc_target) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(
            health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"), timeout=30
        )
        # Health follows readiness by polling (every 0.1 s), so the watch may open on the last NOT_SERVING.
        before = [next(watch).status]
        while before[-1] != SERVING:
            before.append(next(watch).status)
        assert set(before[:-1]) <= {NOT_SERVING}
        service.process.send_signal(signal.SIGTERM)
        seen = [next(watch).status]
        watch.cancel()
        assert seen == [NOT_SERVING]
        assert service.process.wait(timeout=30) == 0, service.log()
