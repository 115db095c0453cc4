"""Health follows the service's life: SERVING when ready, NOT_SERVING from SIGTERM on, then a clean exit."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.core.state import ServiceState
from service.grpc.server import GrpcServer
from service.settings import Settings
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


async def until(check, request: health_pb2.HealthCheckRequest, wanted: int, timeout_s: float = 10) -> int:
    """Poll ``check`` until it answers ``wanted`` (seconds, against a poll of an hour: only the change signal
    can flip it in time); return it."""
    deadline = time.monotonic() + timeout_s
    while (status := (await check(request, timeout=10)).status) != wanted:
        assert time.monotonic() < deadline, f"health stayed {status}, not {wanted}"
        await asyncio.sleep(0.01)
    return int(status)


def test_health_follows_a_readiness_change_without_waiting_for_the_poll(tmp_path: Path) -> None:
    """With an hour-long poll, only the state's change signal can flip health within the test's seconds."""
    settings = Settings(model_repository=make_repository(tmp_path / "repo"), intra_op_threads=1)

    async def scenario() -> list[int]:
        state = ServiceState(settings)
        server = GrpcServer(state, address="127.0.0.1:0", poll_s=3600)
        await server.start()
        seen = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                check = health_pb2_grpc.HealthStub(channel).Check
                request = health_pb2.HealthCheckRequest(service="")
                seen.append((await check(request, timeout=10)).status)  # models not loaded yet
                await state.start()
                await state.wait_loaded()
                seen.append(await until(check, request, SERVING))
                state.begin_drain()
                seen.append(await until(check, request, NOT_SERVING))
        finally:
            await server.stop(0)
            await state.stop()
        return seen

    assert asyncio.run(scenario()) == [NOT_SERVING, SERVING, NOT_SERVING]
