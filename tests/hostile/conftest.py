"""Hostile and careless clients against the real service: fixtures, the peak-memory probe, raw sockets.

Every test here sends its request over a socket to a service started as users start it (``python -m
service`` for the memory probes, so the server's peak resident memory is its own; the in-process runtime
where a test must look at the server's state), and checks the answer, the time it took and, where that is
the point, the server's peak resident memory read from /proc.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.live import LiveService, run_process
from tests.service.images import encode, red_box_image
from tests.service.standin import write_repository

T = TypeVar("T")
MB = 1 << 20


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_repository(tmp_path_factory.mktemp("hostile-repo"))


@pytest.fixture(scope="session")
def failing_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in that fails every batch of 2 rows or more."""
    return write_repository(tmp_path_factory.mktemp("hostile-failing"), failing=True)


@pytest.fixture(scope="module")
def server(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """``python -m service`` on the stand-in, with short client timeouts so slow clients are quick to test."""
    log = tmp_path_factory.mktemp("hostile-log") / "service.log"
    settings = {
        "header_timeout_s": "0.5",
        "body_timeout_s": "1",
        "min_body_rate_bytes_s": "1024",
        "idle_timeout_s": "1",
        "max_queue_delay_ms": "2",
        "preprocess_threads": "2",
    }
    with run_process(repo, log, **settings) as running:
        yield running


def png_b64(size: tuple[int, int] = (1, 1)) -> str:
    return base64.b64encode(encode(red_box_image(size=size, box=(0, 0, 0, 0)))).decode()


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    assert match, f"no {key} in /proc/{pid}/status"
    return int(match.group(1))


@dataclass
class Cost:
    """What one call cost the server: its answer, the wall time, and the growth of its peak memory."""

    value: Any
    seconds: float
    peak_growth_mb: float


def cost(pid: int, call: Callable[[], T]) -> Cost:
    """Run ``call`` and measure the server's peak resident memory growth (VmHWM reset first)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    before = rss_kib(pid, "VmHWM")
    started = time.monotonic()
    value = call()
    seconds = time.monotonic() - started
    return Cost(value, seconds, (rss_kib(pid, "VmHWM") - before) / 1024)


@pytest.fixture
def raw_connection() -> Iterator[Callable[[LiveService], socket.socket]]:
    """A factory of raw TCP connections to a service's REST port, all closed at the end of the test."""
    opened: list[socket.socket] = []

    def connect(service: LiveService) -> socket.socket:
        opened.append(socket.create_connection(("127.0.0.1", service.http_port), timeout=10))
        return opened[-1]

    yield connect
    for sock in opened:
        sock.close()


def read_until_closed(sock: socket.socket, timeout_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (seconds)."""
    sock.settimeout(timeout_s)
    started, data = time.monotonic(), b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data, time.monotonic() - started


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """One sample of the service's Prometheus metrics (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + ("{" if labels else " ")) and wanted in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def problem(response: httpx.Response, status: int, needle: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    text = body.get("detail", body.get("error", ""))
    assert needle in text or needle in str(body.get("field")), body
    return body
