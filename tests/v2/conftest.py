"""One real service (`python -m service` in a subprocess, no API key) for the v2 REST infer tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.grpc.live import LiveService, live_service, make_repository


@pytest.fixture(scope="session")
def v2_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    repo = make_repository(tmp_path_factory.mktemp("v2-repo"))
    log = tmp_path_factory.mktemp("v2-log") / "service.log"
    with live_service(repo, log, max_queue_delay_ms="5", max_body_bytes=str(8 << 20)) as running:
        yield running


@pytest.fixture(scope="session")
def http(v2_service: LiveService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=v2_service.http_url, timeout=30) as client:
        yield client
