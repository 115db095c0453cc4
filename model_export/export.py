"""Export to ONNX (network + in-graph post-processing), check it, write a Triton-layout model repository."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import Tensor

from .model import Detector
from .onnx_post import OUTPUT_NAMES, append_postprocess
from .postprocess import PostprocessConfig, postprocess
from .preprocess import InputSpec
from .triton import triton_config

__all__ = ["ExportError", "ParityReport", "check_parity", "export_onnx", "sha256_file", "write_repository"]

OPSET = 18


class ExportError(RuntimeError):
    """The exported graph failed the checker or disagrees with torch."""


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what the torch exporter says about itself, not about our model.

    torch 2.13's dynamo exporter warns (FutureWarning) about its own use of a deprecated pytree API, and logs
    that optional torchvision ops are skipped; both are internal to torch and say nothing about this model.
    """
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def export_onnx(
    model: Detector, anchors: Tensor, spec: InputSpec, post: PostprocessConfig, classes: list[str]
) -> onnx.ModelProto:
    """The complete graph: `images [N,3,H,W]` -> `boxes, scores, labels, num_detections`; weights inline."""
    model = model.eval()
    example = torch.zeros(2, 3, spec.height, spec.width)
    batch = torch.export.Dim("N", min=1, max=4096)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[spec.name],
            output_names=["cls_logits", "box_deltas"],
            dynamic_shapes={"images": {0: batch}},
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    assert program is not None
    proto = onnx.load_from_string(program.model_proto.SerializeToString())  # a plain, self-contained copy
    append_postprocess(proto, anchors, (spec.height, spec.width), post)
    # The exporter's notes on each node (module path, class hierarchy, and a stack trace with the absolute
    # paths of this checkout's files) would make the bytes depend on where the repository lies: dropped.
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del proto.metadata_props[:]
    for key, value in {"classes": json.dumps(classes), "producer": "model_export"}.items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:  # pragma: no cover - a bug in the graph builder
        raise ExportError(f"onnx.checker rejected the exported graph: {exc}") from exc
    return proto


@dataclass(frozen=True)
class ParityReport:
    """Largest deviations between ONNX Runtime and torch over the sample images."""

    images: int
    detections: int
    max_box_rel_diff: float
    max_score_diff: float


def run_onnx(model_bytes: bytes, images: np.ndarray) -> dict[str, np.ndarray]:
    """Run the graph on `images [N,3,H,W]` float32 with ONNX Runtime (CPU) -> the four outputs."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    outs = sess.run(list(OUTPUT_NAMES), {"images": images.astype(np.float32)})
    return dict(zip(OUTPUT_NAMES, (np.asarray(o) for o in outs), strict=True))


def check_parity(
    model_bytes: bytes,
    model: Detector,
    anchors: Tensor,
    spec: InputSpec,
    post: PostprocessConfig,
    images: Tensor,
    rtol: float = 1e-3,
) -> ParityReport:
    """ONNX Runtime vs torch on `images [N,3,H,W]`; raises ExportError unless they agree.

    Same counts, labels and order; boxes within `rtol` relative (of `max(|box|, 1)`); scores within 1e-4.
    Also runs the first image alone (the dynamic batch axis) and compares it with its row of the batch.
    """
    model = model.eval()
    with torch.no_grad():
        cls, box = model(images)
    ref = {k: v.numpy() for k, v in postprocess(cls, box, anchors, (spec.height, spec.width), post).items()}
    got = run_onnx(model_bytes, images.numpy())
    single = run_onnx(model_bytes, images[:1].numpy())
    problems = []
    for key in OUTPUT_NAMES:
        if got[key].shape != ref[key].shape or got[key].dtype != ref[key].dtype:
            problems.append(
                f"{key}: onnx {got[key].shape} {got[key].dtype} vs torch {ref[key].shape} {ref[key].dtype}"
            )
    if problems:
        raise ExportError("parity: " + "; ".join(problems))
    if not np.array_equal(got["num_detections"], ref["num_detections"]):
        raise ExportError(f"parity: num_detections {got['num_detections']} vs torch {ref['num_detections']}")
    if not np.array_equal(got["labels"], ref["labels"]):
        raise ExportError("parity: labels (or their order) differ between ONNX Runtime and torch")
    box_rel = np.abs(got["boxes"] - ref["boxes"]) / np.maximum(np.abs(ref["boxes"]), 1.0)
    score_diff = np.abs(got["scores"] - ref["scores"])
    if box_rel.max(initial=0.0) > rtol or score_diff.max(initial=0.0) > 1e-4:
        raise ExportError(
            f"parity: boxes differ by {box_rel.max():.2e} relative, scores by {score_diff.max():.2e} "
            f"(limits {rtol}, 1e-4)"
        )
    n1 = int(single["num_detections"][0])
    if n1 != int(got["num_detections"][0]) or not np.array_equal(single["labels"][0], got["labels"][0]):
        raise ExportError("parity: a batch of one gives other detections than the same image in a batch")
    return ParityReport(
        images=int(images.shape[0]),
        detections=int(ref["num_detections"].sum()),
        max_box_rel_diff=float(box_rel.max(initial=0.0)),
        max_score_diff=float(score_diff.max(initial=0.0)),
    )


def _project_version() -> str:
    try:
        return package_version("focalserve")
    except PackageNotFoundError:  # run from a source tree that is not pip-installed
        return "0+source"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_repository(
    repository: str | Path,
    name: str,
    version: int,
    proto: onnx.ModelProto,
    metadata: dict[str, Any],
    max_batch_size: int = 32,
) -> Path:
    """Write `<repository>/<name>/config.pbtxt` and `<version>/{model.onnx, metadata.json}`; returns the
    version directory. `metadata` gets `model_sha256` and `opset` filled in from the written file."""
    if version < 1:
        raise ValueError(f"version: must be a positive integer, got {version}")
    model_dir = Path(repository) / name
    vdir = model_dir / str(version)
    vdir.mkdir(parents=True, exist_ok=True)
    onnx_path = vdir / "model.onnx"
    onnx_path.write_bytes(proto.SerializeToString())
    opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    meta = {
        **metadata,
        "name": name,
        "version": version,
        "opset": opset,
        "model_sha256": sha256_file(onnx_path),
    }
    meta.setdefault("created_by", f"model_export {_project_version()}")
    (vdir / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    d = int(metadata["max_detections"])
    spec = metadata["input"]
    (model_dir / "config.pbtxt").write_text(
        triton_config(name, (3, int(spec["height"]), int(spec["width"])), d, max_batch_size)
    )
    return vdir
