"""Fixtures: stand-in model repositories and a real service (uvicorn on a free 127.0.0.1 port, own thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.server import DrainingServer, build_server
from service.settings import Settings
from service.state import ServiceState

from .standin import write_repository


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Live:
    """A running service: its base URL, a client, the state object and the server."""

    url: str
    client: httpx.Client
    state: ServiceState
    server: DrainingServer


@contextmanager
def run_service(repository: Path, *, wait_ready: bool = True, **overrides: Any) -> Iterator[Live]:
    """Start the real app under uvicorn on a free port; yield when ready (or at least started)."""
    settings = Settings(
        model_repository=repository,
        host="127.0.0.1",
        http_port=free_port(),
        grpc_port=free_port(),
        intra_op_threads=1,
        preprocess_threads=2,
        shutdown_grace_s=5,
        **overrides,
    )
    server = build_server(settings)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.http_port}"
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    client = httpx.Client(base_url=url, timeout=30)
    try:
        if wait_ready:
            while client.get("/v2/health/ready").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("the test server never became ready")
                time.sleep(0.02)
        yield Live(url, client, server.config.app.state.service, server)
    finally:
        client.close()
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="session")
def standin_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with model ``standin`` versions 1 and 2 (64x64 input)."""
    return write_repository(tmp_path_factory.mktemp("repo"), versions=(1, 2))


@pytest.fixture(scope="session")
def failing_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose ``standin`` model fails every batch of 2+ rows."""
    return write_repository(tmp_path_factory.mktemp("failing"), failing=True)


@pytest.fixture(scope="module")
def live(standin_repo: Path) -> Iterator[Live]:
    """The service on the stand-in repository with default limits (module-wide)."""
    with run_service(standin_repo, max_queue_delay_ms=5) as service:
        yield service
