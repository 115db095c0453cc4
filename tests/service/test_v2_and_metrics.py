"""Open Inference Protocol health / metadata, /v1/models, /metrics and /docs on the real service."""

from __future__ import annotations

import service
from service.errors import InvalidInput, UnsupportedMediaType
from service.rest.problems import problem_response, v2_response

from .conftest import Live
from .images import encode, red_box_image


def test_health_and_server_metadata(live: Live) -> None:
    c = live.client
    assert c.get("/v2/health/live").json() == {"live": True}
    r = c.get("/v2/health/ready")
    assert r.status_code == 200 and r.json() == {"ready": True}
    assert c.get("/v2").json() == {
        "name": "focalserve",
        "version": service.__version__,
        "extensions": ["binary_tensor_data", "model_configuration", "model_repository", "statistics"],
    }


def test_model_metadata_and_readiness(live: Live) -> None:
    c = live.client
    meta = c.get("/v2/models/standin").json()
    assert (
        meta["name"] == "standin"
        and meta["versions"] == ["1", "2"]
        and meta["platform"] == "onnxruntime_onnx"
    )
    assert meta["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 3, 64, 64]}]
    assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "labels", "num_detections"]
    assert {o["name"]: o["datatype"] for o in meta["outputs"]}["labels"] == "INT64"
    v1 = c.get("/v2/models/standin/versions/1").json()
    assert v1["versions"] == ["1"]
    assert c.get("/v2/models/standin/ready").status_code == 200
    assert c.get("/v2/models/standin/versions/1/ready").status_code == 200
    r = c.get("/v2/models/standin/versions/3/ready")
    assert r.status_code == 404 and "version" in r.json()["error"]


def test_v1_models_lists_versions_and_providers(live: Live) -> None:
    body = live.client.get("/v1/models").json()
    assert body["ready"] is True
    (model,) = [m for m in body["models"] if m["name"] == "standin"]
    assert model["default_version"] == "2"
    assert [v["version"] for v in model["versions"]] == ["1", "2"]
    for v in model["versions"]:
        assert v["state"] == "ready" and v["providers"][0] == "CPUExecutionProvider"
        assert v["classes"] == ["blob"] and v["max_batch_size"] == 8


def test_metrics_content(live: Live) -> None:
    c = live.client
    png = encode(red_box_image())
    assert (
        c.post("/v1/models/standin/detect", content=png, headers={"content-type": "image/png"}).status_code
        == 200
    )
    assert (
        c.post("/v1/models/nope/detect", content=png, headers={"content-type": "image/png"}).status_code
        == 404
    )
    text = c.get("/metrics").text
    assert 'focalserve_requests_total{method="POST",route="/v1/models/{name}/detect",status="200"}' in text
    assert 'focalserve_requests_total{method="POST",route="/v1/models/{name}/detect",status="404"}' in text
    assert (
        'focalserve_request_duration_seconds_bucket{le="0.1",method="POST",route="/v1/models/{name}/detect"}'
        in text
    )
    for name in (
        'focalserve_batch_size_bucket{le="1.0",model="standin",version="2"}',
        'focalserve_queue_duration_seconds_count{model="standin",version="2"}',
        'focalserve_inference_duration_seconds_count{model="standin",version="2"}',
        'focalserve_queue_depth{model="standin",version="2"} 0.0',
        "focalserve_models_loaded 2.0",
        'focalserve_model_provider{model="standin",provider="CPUExecutionProvider",version="1"} 1.0',
        "focalserve_ready 1.0",
    ):
        assert name in text, name


def test_openapi_documents_the_routes_with_examples(live: Live) -> None:
    spec = live.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/models/{name}/detect",
        "/v1/models/{name}/versions/{version}/detect",
        "/v1/score",
        "/v1/models",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/metrics",
    ):
        assert path in paths, path
    detect_body = paths["/v1/models/{name}/detect"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/png", "image/jpeg", "image/webp", "application/json"} <= set(
        detect_body
    )
    for path in ("/v1/models/{name}/detect", "/v1/models/{name}/versions/{version}/detect"):
        documented = {p["name"] for p in paths[path]["post"]["parameters"]}
        assert {"name", "score_threshold", "max_detections"} <= documented, path
    score_body = paths["/v1/score"]["post"]["requestBody"]["content"]
    assert "ScoreOptions" in spec["components"]["schemas"]
    # the documented examples work when pasted
    example = detect_body["application/json"]["example"]
    assert live.client.post("/v1/models/standin/detect", json=example).status_code == 200
    r = live.client.post("/v1/score", json=score_body["application/json"]["example"])
    assert r.status_code == 200, r.text
    assert live.client.get("/docs").status_code == 200


def test_v2_client_errors_are_400_error_objects() -> None:
    # the Open Inference Protocol has no 415 / 422: under /v2 they are a plain 400 {"error"}
    for exc in (InvalidInput("bad", field="inputs", status=422), UnsupportedMediaType("no")):
        response = v2_response(exc)
        assert response.status_code == 400 and b'"error"' in response.body
    assert problem_response(InvalidInput("bad", status=422), "/v1/score").status_code == 422


def test_v1_models_lists_the_loss_models_too(live: Live) -> None:
    from service.oip.loss_models import LOSS_MODELS

    listed = {m["name"]: m for m in live.client.get("/v1/models").json()["models"]}
    assert set(LOSS_MODELS) <= set(listed)
    focal = listed["focal_loss"]
    assert focal["ready"] is True and focal["default_version"] == "1"
    version = focal["versions"][0]
    assert version["task"] == "loss" and version["loss"] == "focal"
    assert [t["name"] for t in version["inputs"]] == ["logits", "targets"]
    assert listed["entropy"]["versions"][0]["inputs"][0]["name"] == "probabilities"
    # every listed loss model answers its own v2 metadata
    for name in LOSS_MODELS:
        assert live.client.get(f"/v2/models/{name}").json()["platform"] == version["platform"]
