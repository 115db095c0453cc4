"""The benchmark script runs (tiny sizes; its speed is for benchmarks/, not for tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_script_runs_and_reports_both_cases():
    cmd = [sys.executable, "benchmarks/losses.py", "--rows", "500", "--classes", "8", "--repeats", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "binary focal, sum" in out.stdout and "multiclass CE, mean" in out.stdout
