"""The one stand-in detector of the test suite, following docs/model_repository.md, built with onnx.helper.

It "detects" one object per image: the bounding box of the pixels whose red channel is bright (normalised
value above 1.0, i.e. pixel >= 183) while green is dark (normalised below 0.0, i.e. pixel <= 116); class 0,
score 0.9; else nothing (``num_detections`` 0, label -1). So a red shape drawn on a grey image must come back
with its box, through letterbox and back-mapping (`tests.service.images`), and a model-input tensor with a
red rectangle (`red_box_tensor`) comes back with exactly that rectangle, for the tensor protocols (v2, OIP
gRPC, tritonclient).
With ``failing=True`` the graph reshapes its input to batch 1 when it holds any non-zero element, so any
batch of 2+ rows of data fails at run time, while the all-zero batches of a warm-up run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def build_model(height: int, width: int, *, failing: bool = False) -> onnx.ModelProto:
    """The graph: images [N, 3, H, W] -> boxes [N, 1, 4], scores [N, 1], labels [N, 1], num_detections [N]."""
    n: list[onnx.NodeProto] = []
    src = "images"
    if failing:
        # gather row f * N * (N - 1), f = 1 when any element is non-zero: out of range for a batch of
        # N >= 2 rows of data, row 0 otherwise (the all-zero batches of a warm-up run); added times 0
        n += [
            helper.make_node("Shape", ["images"], ["in_shape"]),
            _const("f0", np.array([0], dtype=np.int64)),
            _const("f1", np.array([1], dtype=np.int64)),
            helper.make_node("Slice", ["in_shape", "f0", "f1"], ["rows_n"]),  # [1]: N
            helper.make_node("Abs", ["images"], ["magnitude"]),
            helper.make_node("ReduceMax", ["magnitude"], ["peak"], keepdims=0),
            _const("zero_f", np.array(0.0, dtype=np.float32)),
            helper.make_node("Greater", ["peak", "zero_f"], ["has_data"]),
            helper.make_node("Cast", ["has_data"], ["flag"], to=TensorProto.INT64),
            helper.make_node("Sub", ["rows_n", "f1"], ["rows_less_one"]),
            helper.make_node("Mul", ["rows_n", "rows_less_one"], ["pairs"]),
            helper.make_node("Mul", ["flag", "pairs"], ["row"]),
            helper.make_node("Gather", ["images", "row"], ["picked"], axis=0),  # [1, 3, H, W]
            helper.make_node("Mul", ["picked", "zero_f"], ["nothing"]),
            helper.make_node("Add", ["images", "nothing"], ["images_b1"]),
        ]
        src = "images_b1"
    n += [
        _const("i0", np.array([0], dtype=np.int64)),
        _const("i1", np.array([1], dtype=np.int64)),
        _const("i2", np.array([2], dtype=np.int64)),
        helper.make_node("Slice", [src, "i0", "i1", "i1"], ["red"]),  # [N,1,H,W]
        helper.make_node("Slice", [src, "i1", "i2", "i1"], ["green"]),
        _const("thr_r", np.array(1.0, dtype=np.float32)),
        _const("thr_g", np.array(0.0, dtype=np.float32)),
        helper.make_node("Greater", ["red", "thr_r"], ["red_hi"]),
        helper.make_node("Less", ["green", "thr_g"], ["green_lo"]),
        helper.make_node("And", ["red_hi", "green_lo"], ["mask_b"]),
        helper.make_node("Cast", ["mask_b"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Squeeze", ["mask", "i1"], ["mask2"]),  # [N,H,W]
        _const("ax1", np.array([1], dtype=np.int64)),
        _const("ax2", np.array([2], dtype=np.int64)),
        helper.make_node("ReduceMax", ["mask2", "ax1"], ["cols"], keepdims=0),  # [N,W]
        helper.make_node("ReduceMax", ["mask2", "ax2"], ["rows"], keepdims=0),  # [N,H]
        helper.make_node("ArgMax", ["cols"], ["x1i"], axis=1, keepdims=1),  # [N,1] first bright column
        helper.make_node("ArgMax", ["rows"], ["y1i"], axis=1, keepdims=1),
        helper.make_node("ArgMax", ["cols"], ["x2i"], axis=1, keepdims=1, select_last_index=1),
        helper.make_node("ArgMax", ["rows"], ["y2i"], axis=1, keepdims=1, select_last_index=1),
        _const("one_i", np.array(1, dtype=np.int64)),
        helper.make_node("Add", ["x2i", "one_i"], ["x2e"]),
        helper.make_node("Add", ["y2i", "one_i"], ["y2e"]),
        helper.make_node("Concat", ["x1i", "y1i", "x2e", "y2e"], ["box_i"], axis=1),  # [N,4]
        helper.make_node("Cast", ["box_i"], ["box_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["box_f", "i1"], ["boxes_raw"]),  # [N,1,4]
        helper.make_node("ReduceMax", ["cols", "ax1"], ["any"], keepdims=1),  # [N,1] 1.0 if any pixel
        helper.make_node("Unsqueeze", ["any", "i1"], ["any3"]),  # [N,1,1]
        helper.make_node("Mul", ["boxes_raw", "any3"], ["boxes"]),
        _const("score", np.array(0.9, dtype=np.float32)),
        helper.make_node("Mul", ["any", "score"], ["scores"]),
        helper.make_node("Cast", ["any"], ["any_i"], to=TensorProto.INT64),  # [N,1]
        helper.make_node("Sub", ["any_i", "one_i"], ["labels"]),  # 0 if detected, -1 padding
        helper.make_node("Squeeze", ["any_i", "i1"], ["num_detections"]),  # [N]
    ]
    graph = helper.make_graph(
        n,
        "standin",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, height, width])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 1, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", 1]),
            helper.make_tensor_value_info("num_detections", TensorProto.INT64, ["N"]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_entry(
    model_dir: Path,
    version: int,
    model: onnx.ModelProto,
    *,
    classes: list[str],
    height: int,
    width: int,
    max_batch_size: int = 8,
) -> None:
    """Write one version of a stand-in detector: ``model.onnx``, ``metadata.json`` and the model's
    ``config.pbtxt``, in the layout and with the keys of docs/model_repository.md."""
    vdir = model_dir / str(version)
    vdir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(vdir / "model.onnx"))
    meta = {
        "schema_version": 1,
        "name": model_dir.name,
        "version": version,
        "task": "detection",
        "classes": classes,
        "input": {
            "name": "images",
            "layout": "NCHW",
            "dtype": "float32",
            "height": height,
            "width": width,
            "color": "RGB",
            "resize": "letterbox",
            "pad_value": 0,
            "scale": 1 / 255,
            "mean": MEAN,
            "std": STD,
        },
        "outputs": {
            "boxes": "boxes",
            "scores": "scores",
            "labels": "labels",
            "num_detections": "num_detections",
        },
        "max_detections": 1,
        "score_threshold": 0.05,
        "iou_threshold": 0.5,
    }
    (vdir / "metadata.json").write_text(json.dumps(meta))
    (model_dir / "config.pbtxt").write_text(
        f'name: "{model_dir.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch_size}\n'
        "dynamic_batching { max_queue_delay_microseconds: 2000 }\n"
        "version_policy: { all { } }\n"  # every version written is served (Triton's default: the latest)
    )


def write_repository(
    root: Path,
    *,
    name: str = "standin",
    versions: tuple[int, ...] = (1,),
    height: int = 64,
    width: int = 64,
    failing: bool = False,
    max_batch_size: int = 8,
    classes: Sequence[str] = ("blob",),
) -> Path:
    """Write a Triton-layout repository with the stand-in detector as model ``name``; return ``root``."""
    for version in versions:
        model = build_model(height, width, failing=failing)
        write_entry(
            root / name,
            version,
            model,
            classes=list(classes),
            height=height,
            width=width,
            max_batch_size=max_batch_size,
        )
    return root


Box = Sequence[float]


def red_box_tensor(
    boxes: Sequence[Box], *, height: int = 64, width: int = 64, seed: int | None = None
) -> np.ndarray:
    """Model input ``[N, 3, H, W]`` float32, normalised as the metadata says, one image per box.

    Image ``i`` is grey with a pure red rectangle covering pixels ``[x1, x2) x [y1, y2)`` of ``boxes[i]``
    (integral ``x1, y1, x2, y2``; an empty box draws nothing). The stand-in's answer for row ``i`` is then
    exactly ``boxes[i]`` (or no detection for an empty box). With ``seed``, every pixel is random instead:
    the background's red at most 180 (never bright), the rectangle's red at least 200 with green at most 100.
    """
    pixels = np.empty((len(boxes), height, width, 3), dtype=np.uint8)
    rng = np.random.default_rng(seed) if seed is not None else None
    for image, box in zip(pixels, boxes, strict=True):
        x1, y1, x2, y2 = (int(v) for v in box)
        assert (x1, y1, x2, y2) == tuple(box), f"box {box} is not in whole pixels"
        if rng is None:
            image[:] = 128
            image[y1:y2, x1:x2] = (255, 0, 0)
        else:
            image[..., 0] = rng.integers(0, 181, (height, width))
            image[..., 1:] = rng.integers(0, 256, (height, width, 2))
            inside = image[y1:y2, x1:x2]
            inside[..., 0] = rng.integers(200, 256, inside.shape[:2])
            inside[..., 1] = rng.integers(0, 101, inside.shape[:2])
    scaled = pixels.astype(np.float64) / 255.0
    normalised = (scaled - np.asarray(MEAN)) / np.asarray(STD)
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2), dtype=np.float32)
