"""Every error a client can cause or meet, over HTTP: status and problem+json / {"error"} naming the field."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import Live, run_service
from .images import encode, red_box_image
from .test_preprocess import png_header_only

PNG = encode(red_box_image())
URL = "/v1/models/standin/detect"


def problem(r: httpx.Response, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (
        body["status"] == status
        and body["title"]
        and body["detail"]
        and body["type"].startswith("/problems/")
    )
    if field is not None:
        assert body["field"] == field and body["argument"] == field, body
    return body


def test_unknown_model_and_version(live: Live) -> None:
    png = {"content-type": "image/png"}
    assert (
        "'nope'"
        in problem(live.client.post("/v1/models/nope/detect", content=PNG, headers=png), 404, "model")[
            "detail"
        ]
    )
    problem(
        live.client.post("/v1/models/standin/versions/9/detect", content=PNG, headers=png), 404, "version"
    )
    problem(live.client.get("/v1/nothing-here"), 404)


def test_unsupported_media_type(live: Live) -> None:
    body = problem(
        live.client.post(URL, content=b"abc", headers={"content-type": "text/plain"}), 415, "Content-Type"
    )
    assert "text/plain" in body["detail"]
    problem(live.client.post(URL, content=b"abc"), 415)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"not an image at all", "not an image"),
        (encode(red_box_image(), "JPEG")[:300], "truncated"),
    ],
)
def test_bad_image_bytes(live: Live, data: bytes, needle: str) -> None:
    body = problem(live.client.post(URL, content=data, headers={"content-type": "image/jpeg"}), 400, "body")
    assert needle in body["detail"]


def test_bad_image_in_multipart_names_the_part(live: Live) -> None:
    files = [("files", ("a.png", PNG, "image/png")), ("files", ("b.png", b"garbage", "image/png"))]
    problem(live.client.post(URL, files=files), 400, "files[1]")
    problem(live.client.post(URL, data={"x": "1"}, files={"": ("", b"", "")}), 400)


def test_decompression_bomb_is_refused(live: Live) -> None:
    r = live.client.post(URL, content=png_header_only(30_000, 30_000), headers={"content-type": "image/png"})
    problem(r, 413, "body")


def test_json_body_errors(live: Live) -> None:
    problem(
        live.client.post(URL, content=b"{bad json", headers={"content-type": "application/json"}), 400, "body"
    )
    problem(live.client.post(URL, json={"pictures": []}), 400, "images")
    problem(live.client.post(URL, json={"images": []}), 400, "images")
    problem(live.client.post(URL, json={"images": ["***"]}), 400, "images[0]")
    problem(
        live.client.post(URL, json={"images": [base64.b64encode(PNG).decode()], "max_detections": -1}),
        400,
        "max_detections",
    )


def test_max_detections_past_the_models_cap_is_refused_naming_it(live: Live) -> None:
    """The stand-in returns at most 1 detection per image (its export's cap): asking for 2 is a 400 in the
    query (checked before the body is read), a JSON body or a form field; 1 is served. Not a 422: the schema
    cannot state a model's cap, so a schema-valid request meets it."""
    png = {"content-type": "image/png"}
    encoded = base64.b64encode(PNG).decode()
    for response, status in [
        (live.client.post(URL, content=PNG, headers=png, params={"max_detections": 2}), 400),
        (live.client.post(URL, json={"images": [encoded], "max_detections": 2}), 400),
        (live.client.post(URL, files={"f": ("a.png", PNG, "image/png")}, data={"max_detections": "7"}), 400),
    ]:
        body = problem(response, status, "max_detections")
        assert "at most 1" in body["detail"], body
    ok = live.client.post(URL, content=PNG, headers=png, params={"max_detections": 1})
    assert ok.status_code == 200 and len(ok.json()["images"][0]["boxes"]) == 1


def test_option_validation(live: Live) -> None:
    png = {"content-type": "image/png"}
    problem(
        live.client.post(URL, content=PNG, headers=png, params={"score_threshold": 2}), 422, "score_threshold"
    )
    problem(
        live.client.post(URL, content=PNG, headers=png, params={"max_detections": "many"}),
        422,
        "max_detections",
    )
    problem(
        live.client.post(URL, files={"f": ("a.png", PNG, "image/png")}, data={"score_threshold": "x"}),
        400,
        "score_threshold",
    )


def test_v2_errors_are_error_objects(live: Live) -> None:
    for path in ("/v2/models/nope", "/v2/models/nope/ready", "/v2/models/standin/versions/7", "/v2/nothing"):
        r = live.client.get(path)
        assert r.status_code == 404, path
        assert set(r.json()) == {"error"} and r.json()["error"]


def test_body_limit(standin_repo: Path) -> None:
    with run_service(standin_repo, max_body_bytes=2000) as service:
        big = b"\0" * 5000
        r = service.client.post(URL, content=big, headers={"content-type": "image/png"})
        problem(r, 413, "body")

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"\0" * 500

        r = service.client.post(URL, content=chunks(), headers={"content-type": "image/png"})
        problem(r, 413, "body")
        assert service.client.post(URL, content=PNG, headers={"content-type": "image/png"}).status_code == 200


def test_api_keys(standin_repo: Path) -> None:
    with run_service(standin_repo, api_keys="alpha-key,beta-key") as service:
        c = service.client
        png = {"content-type": "image/png"}
        r = c.post(URL, content=PNG, headers=png)
        problem(r, 401, "X-API-Key")
        assert "X-API-Key" in r.headers["www-authenticate"]
        problem(c.post(URL, content=PNG, headers=png | {"x-api-key": "alpha-kez"}), 401)
        assert c.post(URL, content=PNG, headers=png | {"x-api-key": "beta-key"}).status_code == 200
        assert c.get("/v1/models").status_code == 401
        r = c.get("/v2/models/standin")
        assert r.status_code == 401 and "error" in r.json()
        for open_path in ("/v2/health/live", "/v2/health/ready", "/metrics"):
            assert c.get(open_path).status_code == 200, open_path


def test_full_queue_is_503_with_retry_after(standin_repo: Path) -> None:
    with run_service(standin_repo, queue_size=1, max_queue_delay_ms=1500) as service:

        def one(_: int) -> httpx.Response:
            return httpx.post(
                service.url + URL, content=PNG, headers={"content-type": "image/png"}, timeout=30
            )

        with ThreadPoolExecutor(3) as pool:
            responses = list(pool.map(one, range(3)))
        codes = sorted(r.status_code for r in responses)
        assert codes[0] == 200 and codes[-1] == 503, codes
        refused = next(r for r in responses if r.status_code == 503)
        assert int(refused.headers["retry-after"]) >= 1
        assert "queue is full" in problem(refused, 503)["detail"]


def test_request_timeout_is_504(standin_repo: Path) -> None:
    with run_service(standin_repo, request_timeout_s=0.2, max_queue_delay_ms=3000) as service:
        r = service.client.post(URL, content=PNG, headers={"content-type": "image/png"})
        assert "timeout" in problem(r, 504)["detail"]


def test_failed_batch_fails_every_request_clearly(failing_repo: Path) -> None:
    with run_service(failing_repo, max_queue_delay_ms=500) as service:
        alone = service.client.post(URL, content=PNG, headers={"content-type": "image/png"})
        assert alone.status_code == 200  # a batch of one works

        def one(_: int) -> httpx.Response:
            return httpx.post(
                service.url + URL, content=PNG, headers={"content-type": "image/png"}, timeout=30
            )

        with ThreadPoolExecutor(3) as pool:
            responses = list(pool.map(one, range(3)))
        for r in responses:
            body = problem(r, 500)
            assert "model standin version 1 failed on a batch of 3 rows" in body["detail"]
        assert service.client.get("/v2/health/ready").status_code == 200  # the service itself is fine
