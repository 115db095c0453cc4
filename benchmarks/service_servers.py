"""The servers the service benchmark starts, each in its own process, and what every row needs (`Context`).

Used by ``benchmarks/service.py`` (detection rows) and ``benchmarks/service_score.py`` (scoring rows).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = Path(__file__).with_name("service_load.py")
sys.path.insert(0, str(ROOT))

from benchmarks.service_load import free_port, wait_ready  # noqa: E402


@dataclass
class Context:
    """What every row needs: the repository, the model, the encoded test image, settings and servers."""

    repository: Path
    model: str
    image: bytes
    duration: float
    max_batch_size: int
    workdir: Path
    service_env: dict[str, str] = field(default_factory=dict)  # extra FOCALSERVE_* for the service
    servers: dict[str, str] = field(default_factory=dict)  # row name -> base URL
    pids: dict[str, int] = field(default_factory=dict)  # row name -> server process id
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


# --- processes
def start_process(
    ctx: Context, name: str, cmd: list[str], ready_path: str, env: dict[str, str] | None = None
) -> str:
    port = free_port()
    log = (ctx.workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [*cmd, "--port" if "-m" not in cmd else "--http-port", str(port)],
        cwd=ROOT,
        env=os.environ | (env or {}),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ctx.procs.append(proc)
    ctx.pids[name] = proc.pid
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, ready_path, proc)
    ctx.servers[name] = url
    return url


def stop_all(ctx: Context) -> None:
    for proc in ctx.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in ctx.procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def service_url(ctx: Context) -> str:
    if "service" not in ctx.servers:
        env = {
            "FOCALSERVE_MAX_BODY_BYTES": str(1 << 30),
            "FOCALSERVE_MAX_BATCH_SIZE": str(ctx.max_batch_size),
            "FOCALSERVE_LOG_LEVEL": "warning",
            "FOCALSERVE_GRPC_MAX_MESSAGE_BYTES": str(1 << 30),
        } | ctx.service_env
        grpc_port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "service",
            "--model-repository",
            str(ctx.repository),
            "--grpc-port",
            str(grpc_port),
        ]
        start_process(ctx, "service", cmd, "/v2/health/ready", env)
        ctx.servers["service-grpc"] = f"127.0.0.1:{grpc_port}"
    return ctx.servers["service"]


def bare_server(ctx: Context) -> str:
    """The receive-only reference server (HTTP ``/receive``; gRPC at ``ctx.servers["bare-grpc"]``)."""
    if "bare" not in ctx.servers:
        grpc_port = free_port()
        cmd = [sys.executable, str(LOAD), "_bare", "--grpc-port", str(grpc_port)]
        start_process(ctx, "bare", cmd, "/health")
        ctx.servers["bare-grpc"] = f"127.0.0.1:{grpc_port}"
    return ctx.servers["bare"]
