from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_export.evaluate import coco_map


def test_perfect_predictions_score_one(tiny_data: dict[str, Path]) -> None:
    coco = json.loads(tiny_data["val"].read_text())
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in coco["annotations"]
    ]
    m = coco_map(tiny_data["val"], results)
    assert m.mAP == pytest.approx(1.0) and m.mAP50 == pytest.approx(1.0) and m.mAP75 == pytest.approx(1.0)


def test_wrong_class_and_shifted_boxes_score_less(tiny_data: dict[str, Path]) -> None:
    coco = json.loads(tiny_data["val"].read_text())
    n_cats = len(coco["categories"])
    wrong = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"] % n_cats + 1,
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in coco["annotations"]
    ]
    assert coco_map(tiny_data["val"], wrong).mAP == 0.0
    shifted = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": [a["bbox"][0] + a["bbox"][2] * 0.2, a["bbox"][1], a["bbox"][2], a["bbox"][3]],
            "score": 1.0,
        }
        for a in coco["annotations"]
    ]
    m = coco_map(tiny_data["val"], shifted)
    assert m.mAP50 == pytest.approx(1.0) and m.mAP75 < 0.5  # IoU 0.67: a hit at 0.5, a miss at 0.75


def test_no_detections_score_zero(tiny_data: dict[str, Path]) -> None:
    assert coco_map(tiny_data["val"], []).mAP == 0.0


def test_cocoeval_prints_nothing(tiny_data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    coco = json.loads(tiny_data["val"].read_text())
    a = coco["annotations"][0]
    coco_map(
        tiny_data["val"], [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.5}]
    )
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
