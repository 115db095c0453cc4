"""The committed default model (models/detector): accuracy recorded at export, integrity, and that it runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from model_export import InputSpec, preprocess
from model_export.synthetic import CLASSES, SyntheticConfig, render_image

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "detector"


def _metadata() -> dict[str, object]:
    return dict(json.loads((MODEL / "1" / "metadata.json").read_text()))


def test_default_model_reaches_map50_on_the_held_out_split() -> None:
    meta = _metadata()
    evaluation = meta["evaluation"]
    assert isinstance(evaluation, dict)
    assert evaluation["mAP50"] >= 0.80
    assert evaluation["seed"] != meta["training"]["seed"]  # type: ignore[index]
    assert meta["classes"] == list(CLASSES)


def test_default_model_file_matches_its_sha256_and_size_budget() -> None:
    data = (MODEL / "1" / "model.onnx").read_bytes()
    assert hashlib.sha256(data).hexdigest() == _metadata()["model_sha256"]
    assert len(data) < 5_000_000
    assert (MODEL / "config.pbtxt").read_text().startswith('name: "detector"\nplatform: "onnxruntime_onnx"')


def test_default_model_finds_the_objects_of_a_fresh_image() -> None:
    meta = _metadata()
    spec_d = meta["input"]
    assert isinstance(spec_d, dict)
    spec = InputSpec(
        height=spec_d["height"], width=spec_d["width"], pad_value=spec_d["pad_value"], scale=spec_d["scale"],
        mean=tuple(spec_d["mean"]), std=tuple(spec_d["std"]),
    )  # fmt: skip
    image, objects = render_image(seed=99, index=0, cfg=SyntheticConfig())
    big = image.resize((256, 256), Image.Resampling.BILINEAR)  # letterbox scale 0.5
    x, s = preprocess(big, spec)
    sess = ort.InferenceSession(str(MODEL / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    boxes, scores, labels, num = sess.run(None, {"images": np.stack([x, x])})
    n = int(num[0])
    assert n > 0 and np.array_equal(boxes[0], boxes[1])
    found = 0
    for obj in objects:
        x0, y0, w, h = (v * 2 for v in obj["bbox"])  # in the 256 x 256 image
        for j in range(n):
            if scores[0, j] < 0.3 or labels[0, j] != obj["label"]:
                continue
            bx = boxes[0, j] / s
            iw = max(0.0, min(bx[2], x0 + w) - max(bx[0], x0))
            ih = max(0.0, min(bx[3], y0 + h) - max(bx[1], y0))
            inter = iw * ih
            if inter / ((bx[2] - bx[0]) * (bx[3] - bx[1]) + w * h - inter) >= 0.5:
                found += 1
                break
    assert found >= 0.7 * len(objects), (found, len(objects))


@pytest.mark.parametrize("key", ["score_threshold", "iou_threshold", "max_detections", "opset"])
def test_default_model_metadata_has_the_documented_numbers(key: str) -> None:
    value = _metadata()[key]
    assert isinstance(value, int | float) and value > 0
