"""The web console in a real browser (Debian's chromium, Playwright) against the real service on the committed
default model: the models and live figures, boxes drawn over a drawn circle, the threshold filtering them
without a new request, scores checked against `losses`, the loss explorer's values, the API-key prompt.

Each view's screenshot is saved (`screenshots`: a temporary folder, or ``FOCALSERVE_SCREENSHOTS=docs`` to
refresh the README's).
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

import losses
from service.settings import DEFAULT_MODEL_REPOSITORY
from tests.live import LiveService, run_in_thread
from tests.service.standin import write_repository

from .conftest import Page

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODEL_REPOSITORY / "detector").is_dir(), reason="the default model is not in models/"
)
expect: Any = pytest.importorskip("playwright.sync_api").expect

KEY = "console-browser-key-77c2"
TIMES, GAMMA, ALPHA = "\u00d7", "\u03b3", "\u03b1"  # as the page writes them


@pytest.fixture(scope="module")
def live() -> Iterator[LiveService]:
    with run_in_thread(DEFAULT_MODEL_REPOSITORY, max_queue_delay_ms=2) as service:
        yield service


def circle_png(size: tuple[int, int], circle: tuple[int, int, int]) -> bytes:
    """A red disc (centre x, y, radius) on a flat blue-grey background: the default model's circle class."""
    image = Image.new("RGB", size, (90, 140, 170))
    cx, cy, r = circle
    ImageDraw.Draw(image).ellipse([cx - r, cy - r, cx + r, cy + r], fill=(230, 40, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def shapes_png() -> bytes:
    """Four of the default model's five shapes, for the screenshot."""
    image = Image.new("RGB", (320, 240), (96, 132, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse([160, 50, 240, 130], fill=(230, 40, 40))
    draw.regular_polygon((80, 70, 38), 4, rotation=45, fill=(250, 210, 40))
    draw.regular_polygon((90, 175, 40), 3, rotation=0, fill=(40, 200, 90))
    draw.rectangle([207, 171, 283, 199], fill=(245, 245, 245))
    draw.rectangle([231, 147, 259, 223], fill=(245, 245, 245))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def overlap(a: dict[str, float], b: tuple[float, float, float, float]) -> float:
    """IoU of a Playwright bounding box and an (x1, y1, x2, y2) box, both in page pixels."""
    ax2, ay2 = a["x"] + a["width"], a["y"] + a["height"]
    ix = max(0.0, min(ax2, b[2]) - max(a["x"], b[0]))
    iy = max(0.0, min(ay2, b[3]) - max(a["y"], b[1]))
    inter = ix * iy
    return inter / (a["width"] * a["height"] + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def expected_box(page: Any, size: tuple[int, int], circle: tuple[int, int, int]) -> tuple[float, ...]:
    """Where the circle is on the page: the displayed image's box, scaled from the image's pixels."""
    shown = page.locator("#detect-image").bounding_box()
    sx, sy = shown["width"] / size[0], shown["height"] / size[1]
    cx, cy, r = circle
    return (
        shown["x"] + (cx - r) * sx,
        shown["y"] + (cy - r) * sy,
        shown["x"] + (cx + r) * sx,
        shown["y"] + (cy + r) * sy,
    )


def detect_posts(page: Page) -> int:
    return sum(1 for r in page.requests if r.startswith("POST ") and r.endswith("/detect?score_threshold=0"))


def test_the_detect_view_draws_the_boxes_over_the_object_and_filters_them_here(
    page: Page, live: LiveService, screenshots: Path, tmp_path: Path
) -> None:
    pg = page.page
    size, circle = (320, 240), (200, 100, 45)
    image = tmp_path / "circle.png"
    image.write_bytes(circle_png(size, circle))
    answers: list[dict[str, Any]] = []  # what the service answered the page, passed through unchanged

    def keep(route: Any) -> None:
        response = route.fetch()
        answers.append(response.json())
        route.fulfill(response=response)

    pg.route("**/v1/models/detector/detect?*", keep)
    pg.goto(f"{live.url}/#detect")
    expect(pg.locator("#detect-model option[value=detector]")).to_have_count(1)
    # the keyboard opens the file chooser from the drop zone
    with pg.expect_file_chooser() as chooser:
        pg.get_by_test_id("drop-zone").focus()
        pg.keyboard.press("Enter")
    chooser.value.set_files(str(image))

    boxes = pg.get_by_test_id("detection-box")
    expect(boxes).to_have_count(1)  # at the default threshold, 0.5
    assert boxes.get_attribute("data-class") == "circle"
    expect(boxes).to_contain_text(re.compile(r"^circle 0\.\d\d$"))
    assert overlap(boxes.bounding_box(), expected_box(pg, size, circle)) > 0.7
    expect(pg.get_by_test_id("detect-timings")).to_contain_text("inference")

    scores = answers[0]["images"][0]["scores"]  # the answer the page drew
    assert sum(s >= 0.5 for s in scores) == 1 and len(scores) > 3  # the model keeps weak ones too
    sent = detect_posts(page)
    assert sent == 1
    slider = pg.get_by_test_id("threshold")
    for threshold in (0.1, 0.2, 1.0, 0.0):
        slider.fill(str(threshold))
        expect(boxes).to_have_count(sum(s >= threshold for s in scores))
    slider.fill("0.5")
    expect(boxes).to_have_count(1)
    assert detect_posts(page) == sent  # filtered in the page: no new request

    # drag and drop: another image, the circle elsewhere and smaller; the box follows it
    size2, circle2 = (256, 192), (70, 120, 30)
    data = base64.b64encode(circle_png(size2, circle2)).decode()
    transfer = pg.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
            return dt;
        }""",
        data,
    )
    pg.get_by_test_id("drop-zone").dispatch_event("drop", {"dataTransfer": transfer})
    expect(pg.get_by_test_id("detect-summary")).to_contain_text(f"256{TIMES}192")
    expect(boxes).to_have_count(1)
    assert overlap(boxes.bounding_box(), expected_box(pg, size2, circle2)) > 0.7

    shapes = tmp_path / "shapes.png"
    shapes.write_bytes(shapes_png())
    pg.get_by_test_id("image-input").set_input_files(str(shapes))
    expect(pg.get_by_test_id("detect-summary")).to_contain_text(f"320{TIMES}240")
    assert boxes.count() >= 1
    pg.screenshot(path=str(screenshots / "console-detect.png"), full_page=True)
    page.no_errors()


def test_a_refused_image_shows_the_servers_problem(page: Page, live: LiveService, tmp_path: Path) -> None:
    pg = page.page
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    detail = live.client.post(
        "/v1/models/detector/detect", content=broken.read_bytes(), headers={"content-type": "image/png"}
    ).json()["detail"]
    pg.goto(f"{live.url}/#detect")
    expect(pg.locator("#detect-model option[value=detector]")).to_have_count(1)
    pg.get_by_test_id("image-input").set_input_files(str(broken))
    problem = pg.locator("[data-panel=detect] [data-testid=problem]")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("400 Invalid input")
    expect(problem).to_contain_text(detail)
    expect(pg.get_by_test_id("detection-box")).to_have_count(0)
    page.no_errors(allowed=("status of 400",))


def _scored(x: np.ndarray, y: np.ndarray, name: str, **params: float) -> float:
    return float(losses.get_loss(name)(x, y, kind="binary", from_logits=True, reduction="mean", **params))


def test_the_score_view_shows_the_values_of_losses(
    page: Page, live: LiveService, screenshots: Path, tmp_path: Path
) -> None:
    pg = page.page
    rng = np.random.default_rng(18)
    x = np.round(rng.normal(0, 2.5, size=40) - 1.5, 3)
    y = (rng.random(40) < 0.25).astype(np.float64)
    pg.goto(f"{live.url}/#score")
    pg.locator("#score-predictions").fill(json.dumps(x.tolist()))
    pg.locator("#score-labels").fill(json.dumps([int(v) for v in y]))
    pg.locator("input[name=loss][value=soft_truncated]").check()
    pg.locator("input[data-loss=soft_truncated][data-param=m]").fill("0.7")
    pg.locator("input[data-loss=soft_truncated][data-param=k]").fill("3")
    pg.locator("#score-anatomy-of").select_option("focal")
    pg.get_by_role("button", name="Score", exact=True).click()

    result = pg.get_by_test_id("score-result")
    expected = {
        "cross_entropy": _scored(x, y, "cross_entropy"),
        "focal": _scored(x, y, "focal", alpha=0.25, gamma=2.0),
        "soft_truncated": _scored(x, y, "soft_truncated", m=0.7, k=3.0),
    }
    for name, want in expected.items():
        cell = result.locator(f"[data-testid=score-value][data-loss={name}]")
        expect(cell).to_have_count(1)
        assert float(cell.get_attribute("data-value")) == pytest.approx(want, rel=1e-12)
        assert float(cell.inner_text()) == pytest.approx(want, rel=1e-7)  # what is shown: 8 digits
    anatomy = losses.loss_anatomy(x, y, loss="focal", kind="binary", from_logits=True, alpha=0.25, gamma=2.0)
    shares = pg.get_by_test_id("anatomy-shares")
    expect(shares).to_contain_text(f"positives {float(f'{100 * anatomy.share_positive:.3g}'):g}%")
    expect(pg.locator("#anatomy-loss")).to_contain_text("focal")
    expect(pg.locator("[data-testid=anatomy-chart] canvas")).to_have_count(1)
    pg.screenshot(path=str(screenshots / "console-score.png"), full_page=True)

    # the same arrays as an .npz upload
    npz = tmp_path / "arrays.npz"
    np.savez(npz, predictions=x, labels=y)
    pg.get_by_test_id("score-file").set_input_files(str(npz))
    with pg.expect_request(lambda r: "/v1/score?" in r.url) as sent:
        pg.get_by_role("button", name="Score", exact=True).click()
    assert sent.value.headers["content-type"] == "application/x-npz"
    expect(pg.locator("#score-caption")).to_contain_text("Losses of arrays.npz: 40 elements")
    cell = result.locator("[data-testid=score-value][data-loss=focal]")
    assert float(cell.get_attribute("data-value")) == pytest.approx(expected["focal"], rel=1e-12)

    # what the server says about bad input is shown as it says it
    pg.locator("#score-clear-files").click()
    pg.locator("#score-labels").fill("[1, 0]")
    body = {"predictions": x.tolist(), "labels": [1, 0], "losses": [{"name": "focal"}]}
    detail = live.client.post("/v1/score", json=body).json()["detail"]
    pg.get_by_role("button", name="Score", exact=True).click()
    problem = pg.locator("[data-panel=score] [data-testid=problem]")
    expect(problem).to_contain_text(detail)
    page.no_errors(allowed=("status of 400",))


def test_the_loss_explorer_plots_what_the_scoring_api_computes(
    page: Page, live: LiveService, screenshots: Path
) -> None:
    pg = page.page
    pg.goto(f"{live.url}/#explorer")
    chart = pg.get_by_test_id("loss-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    rows = pg.locator("[data-testid=readout-row]")
    expect(rows).to_have_count(5)  # CE and focal for the default gammas 0.5, 1, 2, 5
    expect(rows.filter(has_text=f"FL {GAMMA}=2")).to_contain_text(
        f"100{TIMES}"
    )  # the paper: 100x lower than CE at 0.9

    with pg.expect_request(lambda r: r.url.endswith("/v1/score") and r.method == "POST") as sent:
        pg.locator("#ex-gammas").fill("2")
        pg.locator("#ex-alpha").fill("0.25")
        pg.locator("#ex-hard").check()
        pg.locator("#ex-soft").check()
        pg.locator("#ex-soft-k").fill("4")
        pg.locator("#ex-at").fill("0.8")
    asked = json.loads(sent.value.post_data)
    assert asked["per_sample"] and asked["gradient"]
    expect(rows).to_have_count(4)
    expect(pg.locator("#readout-caption")).to_contain_text("p_t = 0.8")
    x = np.array([math.log(0.8 / 0.2)])
    y = np.array([1.0])
    cases = {
        "cross_entropy": {},
        "focal": {"alpha": 0.25, "gamma": 2.0},
        "hard_truncated": {"m": 0.6},
        "soft_truncated": {"m": 0.6, "k": 4.0},
    }
    for name, params in cases.items():
        row = rows.locator(f"xpath=self::*[@data-loss='{name}']")
        expect(row).to_have_count(1)
        common = {"kind": "binary", "from_logits": True, "reduction": "none", **params}
        value = float(losses.get_loss(name)(x, y, **common)[0])
        grad = float(losses.loss_gradient(name, x, y, **common)[0])
        assert float(row.get_attribute("data-value")) == pytest.approx(value, rel=1e-9), name
        assert float(row.get_attribute("data-gradient")) == pytest.approx(grad, rel=1e-9), name
    legend = chart.locator(".u-legend")
    for label in ("CE", f"FL {GAMMA}=2 {ALPHA}=0.25", "hard m=0.6", "soft m=0.6 K=4", "d/dx CE"):
        expect(legend).to_contain_text(label)

    pg.locator("#ex-soft-k").fill("-1")  # K must be > 0: the server's problem is shown
    problem = pg.locator("[data-panel=explorer] [data-testid=problem]")
    expect(problem).to_contain_text("losses[3].k")
    pg.locator("#ex-soft-k").fill("2")
    pg.locator("#ex-gammas").fill("0.5, 1, 2, 5")
    pg.locator("#ex-alpha").fill("")
    pg.locator("#ex-at").fill("0.9")
    expect(pg.locator("#readout-caption")).to_contain_text("p_t = 0.9")
    expect(rows).to_have_count(7)
    expect(rows.filter(has_text=ALPHA)).to_have_count(0)
    expect(problem).to_be_hidden()
    pg.screenshot(path=str(screenshots / "console-explorer.png"), full_page=True)
    page.no_errors(allowed=("status of 400",))


def test_the_models_view_lists_the_versions_and_live_figures(
    page: Page, live: LiveService, screenshots: Path
) -> None:
    pg = page.page
    pg.goto(f"{live.url}/")
    row = pg.locator("[data-testid=model-row][data-model=detector]")
    expect(row).to_have_attribute("data-state", "ready")
    expect(row).to_contain_text("CPUExecutionProvider")
    expect(row).to_contain_text("circle, square, triangle, cross, star")
    expect(row.locator("td.num")).to_have_text("16")  # the service's max batch (config.pbtxt says 32)
    expect(row.get_by_test_id("batching")).to_have_text(
        "queue delay 2 ms; 1 instance"
    )  # max_queue_delay_ms=2
    expect(pg.locator("[data-testid=model-row][data-model=focal_loss]")).to_contain_text("loss")

    image = circle_png((320, 240), (200, 100, 45))
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.05):
            live.client.post(
                "/v1/models/detector/detect", content=image, headers={"content-type": "image/png"}
            )

    senders = [threading.Thread(target=traffic, daemon=True) for _ in range(4)]  # batches of more than one
    for sender in senders:
        sender.start()
    try:
        expect(pg.get_by_test_id("live-rps")).to_have_text(re.compile(r"^[1-9][\d.]*$"), timeout=15_000)
        expect(pg.get_by_test_id("live-p50")).to_have_text(re.compile(r"ms$"))
        batches = pg.locator("[data-testid=batch-row][data-model=detector] [data-testid=batch-count]")
        expect(batches).to_have_text(re.compile(r"^[1-9]\d*$"))
        expect(pg.locator("#live-chart canvas")).to_have_count(1)
        pg.wait_for_timeout(4500)  # a few more points on the chart for the screenshot
    finally:
        stop.set()
        for sender in senders:
            sender.join(5)
    pg.screenshot(path=str(screenshots / "console-models.png"), full_page=True)
    page.no_errors()


def test_the_console_asks_for_the_api_key_once_and_sends_it(
    page: Page, tmp_path: Path, screenshots: Path
) -> None:
    repo = write_repository(tmp_path / "repo")
    write_repository(repo, name="broken")  # a version that fails to load: the view says so, and why
    (repo / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx model")
    with run_in_thread(repo, wait_ready=False, api_keys=[KEY]) as keyed:
        pg = page.page
        pg.goto(f"{keyed.url}/")  # the page itself needs no key; GET /v1/models does
        dialog = pg.locator("#key-dialog")
        expect(dialog).to_be_visible()
        expect(pg.locator("#key-reason")).to_contain_text("missing or wrong API key")
        pg.get_by_test_id("key-input").fill("wrong")
        pg.locator("#key-save").click()
        expect(dialog).to_be_visible()  # refused again: asked again, with the server's words
        expect(pg.locator("#key-reason")).to_contain_text("Unauthenticated")
        pg.screenshot(path=str(tmp_path / "console-api-key.png"))  # not one of the README's
        pg.get_by_test_id("key-input").fill(KEY)
        with pg.expect_request(lambda r: r.url.endswith("/v1/models")) as sent:
            pg.keyboard.press("Enter")  # the form submits from the keyboard
        assert sent.value.headers["x-api-key"] == KEY
        expect(pg.locator("[data-testid=model-row][data-model=standin]")).to_have_attribute(
            "data-state", "ready"
        )
        expect(dialog).to_be_hidden()
        assert pg.evaluate("sessionStorage.getItem('focalserve.apiKey')") == KEY
        broken = pg.locator("[data-testid=model-row][data-model=broken]")
        expect(broken).to_have_attribute("data-state", "failed")
        error = keyed.client.get("/v1/models", headers={"X-API-Key": KEY}).json()["models"]
        reason = next(m for m in error if m["name"] == "broken")["versions"][0]["error"]
        assert reason
        expect(broken.locator(".error-text")).to_have_text(reason)
        expect(pg.locator("#service-state")).to_have_text("service not ready (a model failed to load)")

        pg.reload()  # kept for the session: not asked again
        expect(pg.locator("[data-testid=model-row][data-model=standin]")).to_have_count(1)
        expect(dialog).to_be_hidden()
        pg.goto(f"{keyed.url}/#explorer")
        expect(pg.locator("[data-testid=readout-row]")).to_have_count(5)
        page.no_errors(allowed=("status of 401",))
