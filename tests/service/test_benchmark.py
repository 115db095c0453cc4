"""The service benchmark runs end to end at tiny sizes (its speed is for benchmarks/, not for tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(*args: str) -> str:
    """``benchmarks/service.py`` with 0.3 s points, one round, and ``args``; its output (it must succeed)."""
    cmd = [sys.executable, "benchmarks/service.py", "--duration", "0.3", "--repeat", "1", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_service_benchmark_runs_every_row():
    stdout = run_benchmark("--concurrency", "1", "--elements", "100000")
    for row in ("service", "in-process", "bare-http", "naive", "grpc"):
        assert any(line.split()[:2] == [row, "1"] for line in stdout.splitlines()), row
    for row in ("service npz", "bare-http receive", "service gRPC packed bytes", "bare-gRPC receive"):
        assert row in stdout, row
    assert "one request at a time can reach at most" in stdout


def test_settings_reach_every_row():
    """``--service-env`` reaches the in-process pipeline too, which then runs two batch loops at once (two
    model instances), as the service's batcher does."""
    stdout = run_benchmark(
        "--concurrency",
        "4",
        "--skip-score",
        "--rows",
        "in-process",
        "service",
        "--service-env",
        "FOCALSERVE_MODEL_INSTANCES=2",
        "FOCALSERVE_INTRA_OP_THREADS=1",
    )
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line[:1].isalpha()}
    for row in ("in-process", "service"):
        assert rows[row][1] == "4" and float(rows[row][2]) > 0, stdout
