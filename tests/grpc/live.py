"""Test helpers: a repository with the one stand-in detector, and the real service (`python -m service`) in
a subprocess. triton_client.py imports this in its own process: it imports none of the service's modules."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tests.live import LiveService, run_process
from tests.service.standin import red_box_tensor, write_repository

__all__ = ["CLIENT_BOXES", "STANDIN_BOX", "LiveService", "client_arrays", "live_service", "make_repository"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DETECTOR = ROOT / "models" / "detector"
STANDIN_BOX = (10.0, 12.0, 40.0, 44.0)  # a red rectangle the stand-in finds, in its 64x64 input pixels
#: The boxes drawn in `client_arrays`'s two images (the second touches the left and bottom edges).
CLIENT_BOXES = (STANDIN_BOX, (0.0, 30.0, 21.0, 64.0))


def client_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inputs the tritonclient process sends and the test process checks against (same seed): two
    random model-input images with a red rectangle at `CLIENT_BOXES`, and loss logits / targets."""
    images = red_box_tensor(CLIENT_BOXES, seed=7)
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(16, 4)).astype(np.float32)
    targets = (rng.random((16, 4)) > 0.7).astype(np.float32)
    return images, logits, targets


def make_repository(root: Path) -> Path:
    """``root/detector`` (the stand-in, exact answers) and ``root/real`` (models/detector, when committed)."""
    write_repository(root, name="detector")
    if (DEFAULT_DETECTOR / "1" / "model.onnx").is_file():
        shutil.copytree(DEFAULT_DETECTOR, root / "real")
    return root


def run_client(script: Path, *args: str) -> Any:
    """Run a tritonclient script in its own process (so it never loads our stubs); its JSON answer."""
    out = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=script.parents[2],
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@contextlib.contextmanager
def live_service(repo: Path, log_path: Path, **env: str) -> Iterator[LiveService]:
    """`python -m service` with ``FOCALSERVE_*`` overrides, ready; SIGTERM at the end (`tests.live`)."""
    with run_process(repo, log_path, **env) as service:
        yield service
