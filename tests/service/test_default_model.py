"""The service on the default repository (``models/``, the detector model_export trained): detections land on
the synthetic objects, and boxes come back in the original image's pixels whatever its size."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.settings import DEFAULT_MODEL_REPOSITORY

from .conftest import Live, run_service
from .images import encode, iou, red_box_image
from .standin import write_repository

RED_BOX_300x200 = (180, 40, 260, 150)

pytestmark = [
    pytest.mark.skipif(
        not (DEFAULT_MODEL_REPOSITORY / "detector").is_dir(), reason="the default model is not in models/ yet"
    ),
    pytest.mark.slow,  # imports model_export (torch) for the synthetic generator
]


@pytest.fixture(scope="module")
def default(request: pytest.FixtureRequest) -> Iterator[Live]:
    with run_service(DEFAULT_MODEL_REPOSITORY) as service:
        yield service


def xyxy(bbox: list[float], scale: float = 1.0) -> list[float]:
    x, y, w, h = bbox
    return [x * scale, y * scale, (x + w) * scale, (y + h) * scale]


def matched(objects: list[dict], image: dict, scale: float = 1.0) -> int:
    """How many ground-truth objects have a detection of the right class with IoU >= 0.5."""
    hits = 0
    for obj in objects:
        gt = xyxy(obj["bbox"], scale)
        if any(
            cls == obj["label"] and iou(box, gt) >= 0.5
            for box, cls in zip(image["boxes"], image["class_ids"], strict=True)
        ):
            hits += 1
    return hits


def test_detections_land_on_the_synthetic_objects(default: Live) -> None:
    synthetic = pytest.importorskip("model_export.synthetic")
    models = default.client.get("/v1/models").json()["models"]
    detector = next(m for m in models if m["name"] == "detector")
    meta = detector["versions"][-1]
    assert meta["ready"] and meta["classes"][: len(synthetic.CLASSES)] == list(synthetic.CLASSES)
    cfg = synthetic.SyntheticConfig(width=meta["input"]["width"], height=meta["input"]["height"])
    total = hits = 0
    files = []
    renders = [synthetic.render_image(999, i, cfg) for i in range(4)]  # a seed the training never saw
    for i, (image, _) in enumerate(renders):
        files.append(("files", (f"{i}.png", encode(image), "image/png")))
    r = default.client.post("/v1/models/detector/detect", files=files, params={"score_threshold": 0.3})
    assert r.status_code == 200, r.text
    for (_, objects), result in zip(renders, r.json()["images"], strict=True):
        total += len(objects)
        hits += matched(objects, result)
    assert hits >= 0.5 * total, f"{hits} of {total} objects found"


def test_boxes_are_in_original_pixels_for_a_resized_image(default: Live) -> None:
    synthetic = pytest.importorskip("model_export.synthetic")
    cfg = synthetic.SyntheticConfig()
    image, objects = synthetic.render_image(999, 7, cfg)
    big = image.resize((image.width * 3, image.height * 3))  # letterboxed down by 3, boxes scaled back up
    r = default.client.post(
        "/v1/models/detector/detect",
        content=encode(big),
        headers={"content-type": "image/png"},
        params={"score_threshold": 0.3},
    )
    assert r.status_code == 200, r.text
    result = r.json()["images"][0]
    assert (result["width"], result["height"]) == (big.width, big.height)
    assert matched(objects, result, scale=3.0) >= 0.5 * len(objects)


def test_the_default_input_and_a_model_of_the_old_fixed_form_serve_side_by_side(tmp_path: Path) -> None:
    """One service, two input contracts: the committed detector (its metadata's input size) and a stand-in of
    the old fixed 128x128 form. The same 300x200 image goes to both; each letterboxes it into its own canvas
    and answers in the image's pixels."""
    synthetic = pytest.importorskip("model_export.synthetic")
    shutil.copytree(DEFAULT_MODEL_REPOSITORY / "detector", tmp_path / "detector")
    write_repository(tmp_path, name="old", height=128, width=128)
    image, objects = synthetic.render_image(999, 3, synthetic.SyntheticConfig(width=300, height=200))
    red = red_box_image(box=RED_BOX_300x200, size=(300, 200))
    with run_service(tmp_path) as service:
        models = {m["name"]: m["versions"][-1] for m in service.client.get("/v1/models").json()["models"]}
        assert (models["old"]["input"]["width"], models["old"]["input"]["height"]) == (128, 128)
        size = models["detector"]["input"]["width"], models["detector"]["input"]["height"]
        assert size == (256, 256)  # the input the default recipe letterboxes into
        found = service.client.post(
            "/v1/models/detector/detect", content=encode(image), headers={"content-type": "image/png"},
            params={"score_threshold": 0.3},
        )  # fmt: skip
        assert found.status_code == 200, found.text
        answer = found.json()["images"][0]
        assert (answer["width"], answer["height"]) == (300, 200)
        assert matched(objects, answer) >= 0.7 * len(objects)
        old = service.client.post(
            "/v1/models/old/detect", content=encode(red), headers={"content-type": "image/png"}
        )
        assert old.status_code == 200, old.text
        assert iou(old.json()["images"][0]["boxes"][0], RED_BOX_300x200) > 0.8
