"""benchmarks/gpu_check.py: the detection comparison, and the whole check run on CPU against CPU.

The check exists for machines with a GPU; here it runs with the CPU as the candidate too, so that its loading,
comparison, throughput and service parts are known to work before device time is spent on them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _detections(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "boxes": rng.uniform(0, 128, (n, 4)).astype(np.float32),
        "scores": np.sort(rng.uniform(0.3, 1, n))[::-1].astype(np.float32),
        "labels": rng.integers(0, 5, n),
    }


def test_compare_detections_names_each_kind_of_difference():
    compare = _module().compare_detections
    a = [_detections(3, 0), _detections(2, 1)]
    same = [{k: v.copy() for k, v in d.items()} for d in a]
    assert compare(a, same, score_tol=1e-3, box_tol=0.5) == []
    near = [{**d, "scores": d["scores"] + 5e-4, "boxes": d["boxes"] + 0.25} for d in a]
    assert compare(near, a, score_tol=1e-3, box_tol=0.5) == []  # within both tolerances
    far = [{**a[0], "scores": a[0]["scores"] + 0.01}, {**a[1], "boxes": a[1]["boxes"] + 2}]
    problems = compare(far, a, score_tol=1e-3, box_tol=0.5)
    assert len(problems) == 2 and "image 0: scores" in problems[0] and "image 1: boxes" in problems[1]
    fewer = [_detections(2, 0), a[1]]
    assert compare(fewer, a, score_tol=1e-3, box_tol=0.5) == ["image 0: 2 detections, reference 3"]
    relabelled = [{**a[0], "labels": (a[0]["labels"] + 1) % 5}, a[1]]
    assert compare(relabelled, a, score_tol=1e-3, box_tol=0.5)[0].startswith("image 0: classes")


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SCRIPT), "--images", "4", "--seconds", "0.1", "--out", str(tmp_path), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)


def test_cpu_against_cpu_agrees_in_process_and_through_the_service(tmp_path: Path):
    out = _run(tmp_path, "--candidate", "cpu")
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    inproc = report["in_process"]
    assert inproc["differences"] == [] and inproc["detections"] > 0
    assert inproc["candidate"]["providers"][0] == "CPUExecutionProvider"
    assert all(inproc[r]["images_per_s"][b] > 0 for r in ("candidate", "reference") for b in ("1", "32"))
    assert report["service"]["differences"] == []
    assert report["service"]["candidate"]["providers"] == [["CPUExecutionProvider"]]
    assert "same detections" in out.stdout


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this machine has the CUDA provider"
)
def test_without_cuda_the_check_fails_and_says_what_it_ran_on(tmp_path: Path):
    out = _run(tmp_path, "--skip-service")
    assert out.returncode == 2
    assert "runs on ['CPUExecutionProvider'], not CUDAExecutionProvider" in out.stdout
