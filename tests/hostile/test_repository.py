"""A broken model version does not take its model down; no slivers in the letterbox padding (items 13, 14)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from service.settings import DEFAULT_MODEL_REPOSITORY
from tests.live import run_in_thread
from tests.service.images import encode, red_box_image
from tests.service.standin import write_repository


@pytest.fixture(scope="module")
def broken_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``standin`` versions 1 (fine), 2 (a model.onnx that is not ONNX), 3 (metadata.json that is not JSON),
    4 (a model.onnx that is a directory); ``other``: one version, fine."""
    root = write_repository(tmp_path_factory.mktemp("broken"), versions=(1, 2, 3, 4))
    write_repository(root, name="other")
    (root / "standin" / "2" / "model.onnx").write_bytes(b"not an onnx graph")
    (root / "standin" / "3" / "metadata.json").write_text("{broken")
    (root / "standin" / "4" / "model.onnx").unlink()
    (root / "standin" / "4" / "model.onnx").mkdir()
    return root


def test_the_newest_ready_version_serves_and_the_broken_ones_say_why(broken_repo: Path) -> None:
    png = {"content-type": "image/png"}
    with run_in_thread(broken_repo) as service:  # starts: a broken version no longer stops the process
        c = service.client
        assert c.get("/v2/health/ready").status_code == 200
        assert c.get("/v2/models/standin/ready").status_code == 200
        r = c.post("/v1/models/standin/detect", content=encode(red_box_image()), headers=png)
        assert r.status_code == 200 and r.json()["model_version"] == "1"
        assert c.get("/v2/models/standin/versions/2/ready").status_code == 503
        listed = {m["name"]: m for m in c.get("/v1/models").json()["models"]}["standin"]
        assert listed["default_version"] == "1" and listed["ready"] is True
        states = {v["version"]: v for v in listed["versions"]}
        assert states["1"]["state"] == "ready"
        assert states["2"]["state"] == "failed" and states["2"]["error"]
        assert (
            states["3"]["state"] == "failed" and "metadata.json is not readable JSON" in states["3"]["error"]
        )
        assert states["4"]["state"] == "failed" and "is not a regular file" in states["4"]["error"]
        direct = c.post("/v1/models/standin/versions/2/detect", content=encode(red_box_image()), headers=png)
        assert direct.status_code == 503 and "failed to load" in direct.json()["detail"]


def test_a_model_with_no_working_version_keeps_the_server_unready(tmp_path: Path) -> None:
    root = write_repository(tmp_path)
    (root / "standin" / "1" / "model.onnx").write_bytes(b"garbage")
    with run_in_thread(root, wait_ready=False) as service:
        deadline = time.monotonic() + 30
        while not service.state.loaded:
            assert time.monotonic() < deadline, "loading never ended"
            time.sleep(0.02)
        assert service.client.get("/v2/health/ready").status_code == 503


def _boxes_inside(images: list[dict]) -> list[str]:
    problems = []
    for image in images:
        for box in image["boxes"]:
            x1, y1, x2, y2 = box
            if x2 - x1 < 1 or y2 - y1 < 1:
                problems.append(f"sliver {box} in a {image['width']}x{image['height']} image")
            if not (0 <= x1 <= x2 <= image["width"] and 0 <= y1 <= y2 <= image["height"]):
                problems.append(f"{box} outside a {image['width']}x{image['height']} image")
    return problems


@pytest.mark.skipif(
    not (DEFAULT_MODEL_REPOSITORY / "detector" / "1" / "model.onnx").is_file(), reason="no model"
)
def test_no_slivers_or_padding_boxes_on_wide_and_blank_images(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEFAULT_MODEL_REPOSITORY / "detector", repo / "detector")
    rng = np.random.default_rng(3)
    noisy = [
        encode(
            __import__("PIL.Image", fromlist=["Image"]).fromarray(
                rng.integers(0, 255, (128, 256, 3), dtype=np.uint8)
            )
        )
        for _ in range(4)
    ]
    blank = encode(red_box_image(size=(300, 180), box=(0, 0, 0, 0)))
    with run_in_thread(repo) as service:
        files = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate([*noisy, blank])]
        r = service.client.post("/v1/models/detector/detect", files=files, params={"score_threshold": 0.0})
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert _boxes_inside(images) == []
