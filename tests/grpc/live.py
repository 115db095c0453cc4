"""Test helpers: a stand-in model repository and the real service (`python -m service`) in a subprocess."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from tests.service.standin import write_entry

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DETECTOR = ROOT / "models" / "detector"
STANDIN_BOX = (10.0, 12.0, 40.0, 44.0)  # where the stand-in detector "finds" its one object, in 64x64 pixels


def client_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inputs the tritonclient process sends and the test process checks against (same seed)."""
    rng = np.random.default_rng(7)
    images = rng.random((2, 3, 64, 64), dtype=np.float32)
    logits = rng.normal(size=(16, 4)).astype(np.float32)
    targets = (rng.random((16, 4)) > 0.7).astype(np.float32)
    return images, logits, targets


def write_standin_detector(model_dir: Path, *, size: int = 64) -> None:
    """A tiny detector following docs/model_repository.md: one fixed box per image, score = 0.9.

    Outputs depend on the input only through its batch size, so answers are exact and cheap to check.
    """
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["z"]),  # [N] zeros
        helper.make_node("Unsqueeze", ["z", "ax1"], ["z1"]),  # [N, 1]
        helper.make_node("Add", ["z1", "score"], ["scores"]),
        helper.make_node("Cast", ["z1"], ["labels"], to=TensorProto.INT64),
        helper.make_node("Add", ["z", "one"], ["ones"]),
        helper.make_node("Cast", ["ones"], ["num_detections"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["z1", "ax2"], ["z2"]),  # [N, 1, 1]
        helper.make_node("Add", ["z2", "box"], ["boxes"]),
    ]
    inits = [
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("score", TensorProto.FLOAT, [], [0.9]),
        helper.make_tensor("ax1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("ax2", TensorProto.INT64, [1], [2]),
        helper.make_tensor("box", TensorProto.FLOAT, [1, 1, 4], list(STANDIN_BOX)),
    ]
    graph = helper.make_graph(
        nodes,
        "standin_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 1, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", 1]),
            helper.make_tensor_value_info("num_detections", TensorProto.INT64, ["N"]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    write_entry(model_dir, 1, model, classes=["circle", "square", "triangle"], height=size, width=size)


def make_repository(root: Path) -> Path:
    """``root/detector`` (the stand-in, exact answers) and ``root/real`` (models/detector, when committed)."""
    write_standin_detector(root / "detector")
    if (DEFAULT_DETECTOR / "1" / "model.onnx").is_file():
        shutil.copytree(DEFAULT_DETECTOR, root / "real")
    return root


@dataclass
class LiveService:
    """A running `python -m service`: its REST base URL and gRPC target."""

    process: subprocess.Popen[bytes]
    http_url: str
    grpc_target: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def live_service(repo: Path, log_path: Path, **env: str) -> Iterator[LiveService]:
    """Start the service on free ports with ``FOCALSERVE_*`` overrides; wait until ready; SIGTERM at end."""
    # Imported here, not at the top: tritonclient's process imports this module and must not load our stubs.
    from tests.service.conftest import free_port

    http_port, grpc_port = free_port(), free_port()
    environ = {**os.environ, **{f"FOCALSERVE_{k.upper()}": v for k, v in env.items()}}
    environ.setdefault("FOCALSERVE_INTRA_OP_THREADS", "1")
    cmd = [sys.executable, "-m", "service", "--model-repository", str(repo), "--host", "127.0.0.1"]
    cmd += ["--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
    service = LiveService(process, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with {process.returncode}:\n{service.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{service.http_url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service did not get ready:\n{service.log()}")
            time.sleep(0.1)
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
