"""Detection over HTTP against the real service (stand-in detector): three body forms, versions, options,
image edge cases, batching across concurrent requests."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import Live, run_service
from .images import RED_BOX, encode, iou, red_box_image

PNG = encode(red_box_image())
URL = "/v1/models/standin/detect"


def only_box(body: dict, index: int = 0) -> list[float]:
    image = body["images"][index]
    assert image["class_names"] == ["blob"] and image["class_ids"] == [0]
    assert image["scores"] == [pytest.approx(0.9)]
    return image["boxes"][0]


def test_raw_png_body_finds_the_box_in_original_pixels(live: Live) -> None:
    r = live.client.post(URL, content=PNG, headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "standin" and body["model_version"] == "2"
    assert (body["images"][0]["width"], body["images"][0]["height"]) == (200, 100)
    assert iou(only_box(body), RED_BOX) > 0.8
    assert set(body["timings"]) == {"preprocess_ms", "queue_ms", "inference_ms", "batch_size"}


def test_multipart_with_several_files_answers_in_order(live: Live) -> None:
    other_box = (10, 10, 30, 80)
    other = encode(red_box_image(box=other_box, size=(120, 90)), "JPEG", quality=95)
    files = [("files", ("a.png", PNG, "image/png")), ("files", ("b.jpg", other, "image/jpeg"))]
    r = live.client.post(URL, files=files, data={"max_detections": "1"})  # the stand-in's cap
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["images"]) == 2
    assert iou(only_box(body, 0), RED_BOX) > 0.8
    assert iou(only_box(body, 1), other_box) > 0.7
    assert body["images"][1]["width"] == 120


def test_json_base64_with_options(live: Live) -> None:
    doc = {"images": [base64.b64encode(PNG).decode()], "max_detections": 1}
    r = live.client.post("/v1/models/standin/versions/1/detect", json=doc)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == "1"
    assert iou(only_box(r.json()), RED_BOX) > 0.8


def test_score_threshold_and_max_detections_filter(live: Live) -> None:
    high = live.client.post(
        URL, content=PNG, headers={"content-type": "image/png"}, params={"score_threshold": 0.95}
    )
    assert high.status_code == 200 and high.json()["images"][0]["boxes"] == []
    none = live.client.post(
        URL, content=PNG, headers={"content-type": "image/png"}, params={"max_detections": 0}
    )
    assert none.json()["images"][0]["scores"] == []


def test_query_options_win_over_body_options(live: Live) -> None:
    doc = {"images": [base64.b64encode(PNG).decode()], "max_detections": 0, "score_threshold": 0.95}
    both = live.client.post(URL, json=doc, params={"max_detections": 1, "score_threshold": 0.5})
    assert both.status_code == 200, both.text
    assert iou(only_box(both.json()), RED_BOX) > 0.8  # the body alone would keep nothing
    body_only = live.client.post(URL, json=doc, params={"max_detections": 1})
    assert body_only.json()["images"][0]["boxes"] == []  # the body's threshold still applies


def test_an_image_without_objects_has_no_detections(live: Live) -> None:
    blank = encode(red_box_image(box=(0, 0, 0, 0)))
    r = live.client.post(URL, content=blank, headers={"content-type": "image/png"})
    assert r.status_code == 200 and r.json()["images"][0]["boxes"] == []


@pytest.mark.parametrize("mode", ["RGBA", "L", "CMYK", "P"])
def test_other_colour_modes_are_converted(live: Live, mode: str) -> None:
    fmt, kind = ("JPEG", "image/jpeg") if mode == "CMYK" else ("PNG", "image/png")
    data = encode(red_box_image(mode), fmt)
    r = live.client.post(URL, content=data, headers={"content-type": kind})
    assert r.status_code == 200, r.text
    if mode in ("RGBA", "CMYK", "P"):  # still red: the box is found
        assert iou(only_box(r.json()), RED_BOX) > 0.8


def test_more_images_than_the_max_batch_are_split(live: Live) -> None:
    files = [("files", (f"{i}.png", PNG, "image/png")) for i in range(11)]  # max batch 8
    r = live.client.post(URL, files=files)
    assert r.status_code == 200, r.text
    assert len(r.json()["images"]) == 11
    assert all(iou(img["boxes"][0], RED_BOX) > 0.8 for img in r.json()["images"])


def test_concurrent_requests_are_batched_together(standin_repo: Path) -> None:
    with run_service(standin_repo, max_queue_delay_ms=400) as service:

        def one(_: int) -> httpx.Response:
            return httpx.post(
                service.url + URL, content=PNG, headers={"content-type": "image/png"}, timeout=30
            )

        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(one, range(4)))
        assert all(r.status_code == 200 for r in responses)
        assert max(r.json()["timings"]["batch_size"] for r in responses) > 1
        metrics = service.client.get("/metrics").text
        count = _sample(metrics, 'focalserve_batch_size_count{model="standin",version="2"}')
        total = _sample(metrics, 'focalserve_batch_size_sum{model="standin",version="2"}')
        assert total == 4 and count < 4  # 4 images ran in fewer than 4 model calls


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")
