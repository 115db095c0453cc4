"""The one harness that starts the real service for tests: both servers on port 0, the ports read back.

`run_in_thread` runs a `service.Runtime` on its own event loop in a thread of the test process (so a test can
look at its state); `run_process` runs ``python -m service`` (so a test can send it signals, or keep a client
library such as tritonclient in another process). Either way the REST and gRPC ports are those the servers
bound, read back from the runtime or from its log lines, never a "free" port another process could take.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
_REST = re.compile(r"REST listening on http://[^\s:]+:(\d+)")
_GRPC = re.compile(r"gRPC listening on [^\s]+:(\d+)")


@dataclass
class LiveService:
    """A running service: its REST base URL, gRPC target, an HTTP client, and what started it."""

    http_port: int
    grpc_port: int
    client: httpx.Client
    runtime: Any = None  # service.Runtime when run in a thread
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    url = http_url

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def state(self) -> Any:
        """The `ServiceState` (in-thread services only)."""
        assert self.runtime is not None, "the service runs in another process"
        return self.runtime.state

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path is not None else ""

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                if self.client.get("/v2/health/ready", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service never became ready:\n{self.log()}")
            time.sleep(0.02)

    def wait_for_log(self, text: str, timeout_s: float = 10.0) -> None:
        """Wait until the service's log has ``text`` (subprocess services)."""
        deadline = time.monotonic() + timeout_s
        while text not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the log:\n{self.log()}")
            time.sleep(0.02)


def _client(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)


@contextlib.contextmanager
def _serving(service: LiveService, wait_ready: bool) -> Iterator[LiveService]:
    """``service`` once ready (unless told not to wait); its client closed at the end."""
    try:
        if wait_ready:
            service.wait_ready()
        yield service
    finally:
        service.client.close()


@contextlib.contextmanager
def run_in_thread(repository: Path, *, wait_ready: bool = True, **overrides: Any) -> Iterator[LiveService]:
    """A `service.Runtime` with ``Settings(**overrides)`` on 127.0.0.1, port 0 for both servers."""
    from service import Runtime, Settings

    defaults: dict[str, Any] = {"intra_op_threads": 1, "preprocess_threads": 2, "shutdown_grace_s": 5}
    settings = Settings(
        model_repository=repository, host="127.0.0.1", http_port=0, grpc_port=0, **{**defaults, **overrides}
    )
    runtime = Runtime(settings)
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(runtime.serve())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=main, name="service-under-test", daemon=True)
    thread.start()
    if not runtime.started.wait(START_TIMEOUT_S) or failure:
        raise RuntimeError(f"the service did not start: {failure}")
    service = LiveService(runtime.http_port, runtime.grpc_port, _client(runtime.http_port), runtime=runtime)
    try:
        with _serving(service, wait_ready):
            yield service
    finally:
        runtime.shutdown()
        thread.join(30)


def start_process(repository: Path, log_path: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """``python -m service`` on 127.0.0.1, port 0 for both servers, ``FOCALSERVE_*`` from ``env``."""
    environ = {**os.environ, **{f"FOCALSERVE_{k.upper()}": v for k, v in env.items()}}
    environ.setdefault("FOCALSERVE_INTRA_OP_THREADS", "1")
    cmd = [sys.executable, "-m", "service", "--model-repository", str(repository), "--host", "127.0.0.1"]
    cmd += ["--http-port", "0", "--grpc-port", "0", *args]
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)


def ports_from_log(process: subprocess.Popen[bytes], log_path: Path) -> tuple[int, int]:
    """The REST and gRPC ports the service logged once it listened."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        text = log_path.read_text(errors="replace")
        rest, grpc = _REST.search(text), _GRPC.search(text)
        if rest and grpc:
            return int(rest.group(1)), int(grpc.group(1))
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the service did not start (exit {process.poll()}):\n{text}")
        time.sleep(0.02)


@contextlib.contextmanager
def run_process(
    repository: Path, log_path: Path, *, wait_ready: bool = True, **env: str
) -> Iterator[LiveService]:
    """`start_process`, the ports read back from its log; SIGTERM (then kill) at the end."""
    process = start_process(repository, log_path, **env)
    try:
        http_port, grpc_port = ports_from_log(process, log_path)
        service = LiveService(http_port, grpc_port, _client(http_port), process=process, log_path=log_path)
        with _serving(service, wait_ready):
            yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
