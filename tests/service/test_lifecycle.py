"""The process: `python -m service` CLI, graceful SIGTERM (drain, answer everything accepted, exit 0)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from service.settings import DEFAULT_MODEL_REPOSITORY, Settings
from tests.live import run_process

from .images import encode, red_box_image

ROOT = Path(__file__).resolve().parents[2]
#: The default version's queue gauge: requests accepted and waiting for their batch.
QUEUE_DEPTH = re.compile(r'^focalserve_queue_depth\{model="standin",version="2"\} (\S+)$', re.MULTILINE)


def queue_depth(url: str) -> float:
    found = QUEUE_DEPTH.search(httpx.get(url + "/metrics", timeout=5).text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_sigterm_drains_then_exits(standin_repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    # a 2 s batch delay: the three requests wait in the queue together until the drain has begun
    with run_process(
        standin_repo, log, max_queue_delay_ms="2000", shutdown_grace_s="20", intra_op_threads="1"
    ) as service:
        proc, url = service.process, service.http_url
        assert proc is not None
        service.wait_for_log("start-up objects frozen")  # python -m service freezes once models are loaded
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
        deadline = time.monotonic() + 10
        while (depth := queue_depth(url)) < 3:  # all three accepted and waiting in the batch queue
            assert not results and time.monotonic() < deadline, f"{depth} queued, {results} answered"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        service.wait_for_log("draining for up to")  # the runtime has begun the drain: new work is refused
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
    text = " ".join(out.stdout.split())
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in text and f"FOCALSERVE_{name.upper()}" in text
    assert f"default: {DEFAULT_MODEL_REPOSITORY}]" in text  # the hints print as written, not as markup
