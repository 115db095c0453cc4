"""One real service (`python -m service` in a subprocess) for the gRPC tests, with an API key and a 4 MiB
message limit; clients use the generated stubs (tritonclient.grpc only ever runs in its own process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.grpc.live import LiveService, live_service, make_repository

API_KEY = "test-key-0123"
AUTH = (("x-api-key", API_KEY),)
MESSAGE_LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repository(tmp_path_factory.mktemp("grpc-repo"))


@pytest.fixture(scope="session")
def service(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    log = tmp_path_factory.mktemp("grpc-log") / "service.log"
    with live_service(
        repo,
        log,
        api_keys=API_KEY,
        grpc_max_message_bytes=str(MESSAGE_LIMIT),
        max_queue_delay_ms="5",
        score_store=f"sqlite:///{log.parent}/sessions.sqlite3",
    ) as running:
        yield running


@pytest.fixture(scope="session")
def channel(service: LiveService) -> Iterator[grpc.Channel]:
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(service.grpc_target, options=options) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch
