"""The process: `python -m service` CLI, graceful SIGTERM (drain, answer everything accepted, exit 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .images import encode, red_box_image

ROOT = Path(__file__).resolve().parents[2]


def start(repo: Path, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    environ = os.environ | {f"FOCALSERVE_{k.upper()}": v for k, v in env.items()}
    cmd = [
        sys.executable,
        "-m",
        "service",
        "--model-repository",
        str(repo),
        "--http-port",
        str(port),
        "--grpc-port",
        str(free_port()),
    ]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("service never became ready")


def _wait_for_line(log: Path, text: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{log.read_text()}"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_drains_then_exits(standin_repo: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    proc = start(
        standin_repo, port, log, max_queue_delay_ms="1500", shutdown_grace_s="20", intra_op_threads="1"
    )
    try:
        wait_ready(url, proc, log)
        _wait_for_line(log, "start-up objects frozen")  # python -m service freezes once models are loaded
        png = encode(red_box_image())
        results: list[int] = []

        def one() -> None:
            r = httpx.post(
                url + "/v1/models/standin/detect",
                content=png,
                headers={"content-type": "image/png"},
                timeout=30,
            )
            results.append(r.status_code)

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # accepted, waiting in the batch queue (1.5 s delay)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        late = httpx.post(
            url + "/v1/models/standin/detect", content=png, headers={"content-type": "image/png"}, timeout=5
        )
        assert late.status_code == 503 and "shutting down" in late.json()["detail"]
        ready = httpx.get(url + "/v2/health/ready", timeout=5)
        assert ready.status_code == 503 and ready.json() == {"ready": False}
        for t in threads:
            t.join(30)
        assert results == [200, 200, 200]  # every accepted request answered
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_a_missing_repository(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "service", "--model-repository", str(tmp_path / "none"), "--http-port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "is not a directory" in " ".join(out.stderr.split())


def test_cli_help_lists_the_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "service", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ | {"COLUMNS": "200"},
    )
    assert out.returncode == 0
    for option in ("--model-repository", "--host", "--http-port", "--grpc-port"):
        assert option in out.stdout
