from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from model_export import CLASSES, generate
from model_export.synthetic import SyntheticConfig, render_image


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "images").iterdir())}


def test_same_seed_gives_identical_bytes_and_annotations(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 5, seed=7)
    b = generate(tmp_path / "b", 5, seed=7)
    assert a.read_bytes() == b.read_bytes()
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_other_seed_gives_other_images(tmp_path: Path) -> None:
    generate(tmp_path / "a", 3, seed=1)
    generate(tmp_path / "b", 3, seed=2)
    assert _files(tmp_path / "a") != _files(tmp_path / "b")


def test_image_depends_only_on_seed_and_index() -> None:
    cfg = SyntheticConfig()
    img_a, objs_a = render_image(3, 10, cfg)
    img_b, objs_b = render_image(3, 10, cfg)
    assert np.array_equal(np.asarray(img_a), np.asarray(img_b))
    assert objs_a == objs_b


def test_coco_file_is_valid_and_boxes_lie_inside_images(tmp_path: Path) -> None:
    cfg = SyntheticConfig()
    path = generate(tmp_path, 8, seed=0, cfg=cfg)
    coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    assert len(coco.getImgIds()) == 8
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= 8 * cfg.min_objects // 2  # dense: several objects per image
    for ann in anns:
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and x + w <= cfg.width and y + h <= cfg.height
        assert w >= 4 and h >= 4
        assert ann["iscrowd"] == 0 and ann["area"] > 0
    raw = json.loads(path.read_text())
    assert {"images", "annotations", "categories"} <= set(raw)
    assert all((tmp_path / "images" / im["file_name"]).exists() for im in raw["images"])


def test_every_class_appears() -> None:
    labels = {o["label"] for i in range(20) for o in render_image(0, i, SyntheticConfig())[1]}
    assert labels == set(range(len(CLASSES)))
