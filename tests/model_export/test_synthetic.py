from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
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


def test_a_mix_draws_sizes_and_densities_by_seed_and_index(tmp_path: Path) -> None:
    from model_export.synthetic import SyntheticMix

    wide = SyntheticConfig(width=300, height=200)
    dense = SyntheticConfig(width=96, height=96, min_objects=14, max_objects=16, min_size=8, max_size=12)
    mix = SyntheticMix((wide, dense), weights=(1.0, 1.0))
    path = generate(tmp_path / "a", 12, seed=3, cfg=mix)
    again = generate(tmp_path / "b", 12, seed=3, cfg=mix)
    assert path.read_bytes() == again.read_bytes() and _files(tmp_path / "a") == _files(tmp_path / "b")
    coco = json.loads(path.read_text())
    sizes = {(d["width"], d["height"]) for d in coco["images"]}
    assert sizes == {(300, 200), (96, 96)}  # both components drawn in 12 images
    for info in coco["images"]:
        part = mix.pick(3, info["id"] - 1)
        assert (part.width, part.height) == (info["width"], info["height"])
        with Image.open(tmp_path / "a" / "images" / info["file_name"]) as im:
            assert im.size == (info["width"], info["height"])
        # an image of a component is the image of that component's own split
        image, objects = render_image(3, info["id"] - 1, part)
        with Image.open(tmp_path / "a" / "images" / info["file_name"]) as im:
            assert np.array_equal(np.asarray(im), np.asarray(image))
        anns = [a for a in coco["annotations"] if a["image_id"] == info["id"]]
        assert [a["bbox"] for a in anns] == [o["bbox"] for o in objects]
        if part is dense:
            assert len(anns) >= 8  # dense: most of the 14-16 tries fit


def test_a_mix_rejects_bad_weights() -> None:
    from model_export.synthetic import SyntheticMix

    for kwargs in [{"components": ()}, {"components": (SyntheticConfig(),), "weights": (1.0, 2.0)}]:
        with pytest.raises(ValueError):
            SyntheticMix(**kwargs)  # type: ignore[arg-type]
    only = SyntheticMix((SyntheticConfig(width=64), SyntheticConfig(width=80)), weights=(0.0, 1.0))
    assert {only.pick(0, i).width for i in range(20)} == {80}
