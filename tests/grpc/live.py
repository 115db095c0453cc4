"""Test helpers: a stand-in model repository and the real service (`python -m service`) in a subprocess."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tests.live import LiveService, run_process
from tests.service.standin import write_entry

__all__ = ["STANDIN_BOX", "LiveService", "client_arrays", "live_service", "make_repository"]

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


@contextlib.contextmanager
def live_service(repo: Path, log_path: Path, **env: str) -> Iterator[LiveService]:
    """`python -m service` with ``FOCALSERVE_*`` overrides, ready; SIGTERM at the end (`tests.live`)."""
    with run_process(repo, log_path, **env) as service:
        yield service
