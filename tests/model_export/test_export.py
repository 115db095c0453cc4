"""Export of a briefly trained run: checker, parity with torch, repository layout and metadata."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from model_export import Detector, DetectorConfig, ExportError, TrainResult, check_parity, load_coco
from model_export.default_model import export_result
from model_export.export import run_onnx
from model_export.runs import config_from_dict

DOC_KEYS = {
    "schema_version", "name", "version", "task", "classes", "input", "outputs", "max_detections",
    "score_threshold", "iou_threshold", "training", "evaluation", "opset", "model_sha256", "created_by",
}  # fmt: skip


@pytest.fixture(scope="module")
def exported(
    tiny_run: TrainResult, tiny_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Any:
    cfg = config_from_dict(json.loads((tiny_run.out_dir / "config.json").read_text()))
    cfg.post = replace(cfg.post, score_threshold=0.02)  # the tiny model is unsure: keep parity non-vacuous
    repo = tmp_path_factory.mktemp("repo")
    meta = export_result(tiny_run, cfg, repo, tiny_data["val"], eval_seed=1, name="tiny", version=3)
    return repo, meta, cfg


def test_the_graph_bytes_do_not_depend_on_where_the_checkout_lies(exported: Any) -> None:
    repo, _, _ = exported
    data = (repo / "tiny/3/model.onnx").read_bytes()
    root = str(Path(__file__).resolve().parents[2]).encode()
    assert root not in data, "an absolute path of this checkout is in the graph (exporter stack traces?)"
    model = onnx.load_from_string(data)
    assert all(not n.metadata_props and not n.doc_string for n in model.graph.node)


@pytest.mark.slow
def test_repository_layout_and_metadata(exported: Any) -> None:
    repo, meta, _cfg = exported
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())
    assert files == ["tiny/3/metadata.json", "tiny/3/model.onnx", "tiny/config.pbtxt"]
    on_disk = json.loads((repo / "tiny/3/metadata.json").read_text())
    assert on_disk == meta and set(meta) >= DOC_KEYS
    assert meta["model_sha256"] == hashlib.sha256((repo / "tiny/3/model.onnx").read_bytes()).hexdigest()
    assert meta["name"] == "tiny" and meta["version"] == 3 and meta["opset"] >= 17
    assert meta["classes"] == ["circle", "square", "triangle", "cross", "star"]
    assert meta["input"]["height"] == 128 and meta["input"]["pad_value"] == 0
    assert meta["training"]["loss"] == "focal" and meta["training"]["loss_params"] == {
        "alpha": 0.25,
        "gamma": 2.0,
    }
    assert meta["evaluation"]["seed"] == 1 and 0.0 <= meta["evaluation"]["mAP50"] <= 1.0
    assert meta["parity"]["detections"] > 0
    pbtxt = (repo / "tiny/config.pbtxt").read_text()
    for line in [
        'name: "tiny"',
        'platform: "onnxruntime_onnx"',
        "max_batch_size: 32",
        "dims: [ 3, 128, 128 ]",
        f"dims: [ {meta['max_detections']}, 4 ]",
        "max_queue_delay_microseconds",
        "preferred_batch_size",
    ]:
        assert line in pbtxt, line  # fmt: skip


@pytest.mark.slow
def test_graph_is_complete_checked_and_has_the_documented_signature(exported: Any) -> None:
    repo, meta, _ = exported
    path = repo / "tiny/3/model.onnx"
    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(str(path), full_check=True)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert path.stat().st_size < 5_000_000
    assert any(n.op_type == "NonMaxSuppression" for n in model.graph.node)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(float)" and inp.shape[1:] == [3, 128, 128]
    assert isinstance(inp.shape[0], str)  # dynamic batch
    outs = {o.name: o for o in sess.get_outputs()}
    assert list(outs) == ["boxes", "scores", "labels", "num_detections"]
    assert outs["labels"].type == "tensor(int64)" and outs["num_detections"].type == "tensor(int64)"
    d = meta["max_detections"]
    for batch in (1, 3):
        x = np.random.default_rng(batch).normal(size=(batch, 3, 128, 128)).astype(np.float32)
        got = dict(zip(outs, sess.run(None, {"images": x}), strict=True))
        assert got["boxes"].shape == (batch, d, 4) and got["scores"].shape == (batch, d)
        assert got["labels"].shape == (batch, d) and got["num_detections"].shape == (batch,)
        for i in range(batch):
            n = int(got["num_detections"][i])
            assert (got["labels"][i, n:] == -1).all() and (got["scores"][i, n:] == 0).all()
            assert (got["boxes"][i, n:] == 0).all()
            assert (got["labels"][i, :n] >= 0).all() and (np.diff(got["scores"][i, :n]) <= 0).all()
            assert (got["boxes"][i, :n] >= 0).all() and (got["boxes"][i, :n] <= 128).all()


@pytest.mark.slow
def test_parity_catches_a_different_model(
    exported: Any, tiny_run: TrainResult, tiny_data: dict[str, Path]
) -> None:
    repo, _, cfg = exported
    model_bytes = (repo / "tiny/3/model.onnx").read_bytes()
    images = load_coco(tiny_data["val"], cfg.input).images[:4]
    report = check_parity(model_bytes, tiny_run.model, tiny_run.anchors, cfg.input, cfg.post, images)
    assert report.detections > 0 and report.max_box_rel_diff <= 1e-3
    other = Detector(DetectorConfig())
    torch.manual_seed(1)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    with pytest.raises(ExportError, match="parity"):
        check_parity(model_bytes, other, tiny_run.anchors, cfg.input, cfg.post, images)
    got = run_onnx(model_bytes, images.numpy())
    assert int(got["num_detections"].sum()) == report.detections
