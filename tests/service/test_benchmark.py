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


def test_ratios_are_taken_per_round():
    """Each round's rows run back to back: its ratios use that round's limit and naive rows, the slower
    limit of each round counts, and a failed reference row gives no ratio rather than a division by zero."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.service import Measurement, round_ratios

    def rows(*rates: float) -> list[Measurement]:
        return [Measurement("", 32, r, 1.0, 2.0) for r in rates]

    # round 2 ran on a slower machine: every row fell, the per-round ratios did not
    runs = {
        "service": rows(90, 45),
        "in-process": rows(100, 50),
        "bare-http": rows(1000, 40),
        "naive": rows(75, 30),
    }
    ratios = round_ratios(runs)
    assert ratios is not None
    limit, vs_limit, vs_naive = ratios
    assert limit == "in-process"  # one round each: the tie goes to the compute limit
    assert vs_limit == [0.9, 45 / 40] and vs_naive == [1.2, 1.5]
    assert round_ratios(runs | {"naive": rows(75, 0)}) is None
