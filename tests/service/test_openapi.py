"""The OpenAPI document the running service serves: valid OpenAPI 3.1, and saying what the server accepts
and answers (the fuzzing against it: `tests.service.test_schemathesis`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from service import Settings
from service.rest import create_app
from service.rest.edge import OPEN_PATHS

from .conftest import Live

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema comes with openapi-spec-validator (dev)")
validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator is in the dev extra")

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
#: What OpenAPI 3.1 allows in a Media Type Object (besides ``x-`` extensions).
MEDIA_TYPE_KEYS = {"schema", "example", "examples", "encoding"}


@pytest.fixture(scope="module")
def document(live: Live) -> dict[str, Any]:
    r = live.client.get("/openapi.json")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def schema_of(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A validator for ``schema``, its ``#/components/...`` references resolved in ``doc``."""
    root = {**schema, "components": doc["components"]}
    cls = jsonschema.Draft202012Validator
    return cls(root, format_checker=cls.FORMAT_CHECKER)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validator.validate(copy.deepcopy(document))


def test_media_type_objects_hold_only_what_openapi_allows(document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        bodies = [op.get("requestBody", {}), *op["responses"].values()]
        for body in bodies:
            for media, obj in body.get("content", {}).items():
                extra = {k for k in obj if not k.startswith("x-")} - MEDIA_TYPE_KEYS
                assert not extra, f"{method.upper()} {path} {media}: {extra}"


def test_score_json_schema_accepts_the_example_and_needs_predictions(
    document: dict[str, Any], live: Live
) -> None:
    media = document["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]
    check = schema_of(document, media["schema"])
    example = media["example"]
    check.validate(example)
    without = {k: v for k, v in example.items() if k != "predictions"}
    assert not check.is_valid(without)
    assert not check.is_valid({**example, "unknown_option": 1})  # the options are closed, as ScoreOptions
    assert not check.is_valid({**example, "losses": [{"name": "no-such-loss"}]})
    assert not check.is_valid({**example, "predictions": []})  # an empty array has no loss
    assert check.is_valid({**example, "labels": None})
    # and the server agrees: the example scores, the body without predictions is refused naming them
    assert live.client.post("/v1/score", json=example).status_code == 200
    r = live.client.post("/v1/score", json=without)
    assert r.status_code == 400 and r.json()["field"] == "predictions", r.text


def test_score_documents_its_statuses_and_bodies(document: dict[str, Any]) -> None:
    op = document["paths"]["/v1/score"]["post"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(op["responses"])
    assert set(op["responses"]["200"]["content"]) == {"application/json", "application/x-npz"}
    assert {
        "application/json",
        "application/x-npz",
        "application/octet-stream",
        "multipart/form-data",
    } == set(op["requestBody"]["content"])


def test_v2_infer_documents_an_inference_request(document: dict[str, Any], live: Live) -> None:
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        op = document["paths"][path]["post"]
        content = op["requestBody"]["content"]
        assert op["requestBody"]["required"] is True
        assert set(content) == {"application/json", "application/octet-stream"}
        assert content["application/octet-stream"]["schema"]["format"] == "binary"
        check = schema_of(document, content["application/json"]["schema"])
        example = content["application/json"]["example"]
        check.validate(example)
        assert not check.is_valid({"parameters": {}})  # inputs are required
        assert not check.is_valid({"inputs": [{"name": "x", "shape": [1], "datatype": "NOPE", "data": [1]}]})
        assert "422" not in op["responses"]  # a v2 route answers 400 for every client error
        assert live.client.post("/v2/models/focal_loss/infer", json=example).status_code == 200
    # what the schema refuses, the server refuses too, naming the member
    url = "/v2/models/focal_loss/infer"
    for body, named in (
        ({**example, "id": 5}, "id: must be a string"),
        ({**example, "outputs": [{"name": "loss", "parameters": {"binary_data": "yes"}}]}, "binary_data"),
    ):
        assert not check.is_valid(body)
        r = live.client.post(url, json=body)
        assert r.status_code == 400 and named in r.json()["error"], r.text
    assert live.client.post(url, json={**example, "id": None}).status_code == 200
    request = document["components"]["schemas"]["InferenceRequest"]
    assert {"id", "parameters", "inputs", "outputs"} <= set(request["properties"])
    tensor = document["components"]["schemas"]["InferenceRequestInput"]
    assert {"name", "shape", "datatype", "data", "parameters"} <= set(tensor["properties"])


def test_multipart_detect_needs_files(document: dict[str, Any]) -> None:
    for path in ("/v1/models/{name}/detect", "/v1/models/{name}/versions/{version}/detect"):
        form = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        assert form["schema"]["required"] == ["files"]
        assert form["schema"]["properties"]["files"]["minItems"] == 1


def test_every_guarded_operation_documents_its_4xx_in_its_error_form(document: dict[str, Any]) -> None:
    """Every operation behind the edge documents client errors (at least the edge's 413, 408 where there is
    a body, and 503 while draining), each with the body of its form; the open ones (health, metrics) answer
    no 4xx."""
    for path, method, op in operations(document):
        responses = op["responses"]
        client_errors = [s for s in responses if s.startswith("4")]
        if path.startswith(OPEN_PATHS):
            assert not client_errors, f"{method.upper()} {path}"
            continue
        edge = {"408", "413", "503"} if "requestBody" in op else {"413", "503"}
        assert edge <= set(responses), f"{method.upper()} {path}: {sorted(responses)}"
        for status in [*client_errors, *(s for s in responses if s.startswith("5"))]:
            content = responses[status].get("content", {})
            if path.startswith("/v2"):
                refs = [c.get("schema", {}) for c in content.values()]
                assert "application/json" in content and "V2Error" in str(refs), (path, status)
            else:
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (path, status)
        assert "Retry-After" in responses["503"]["headers"]


def test_method_not_allowed_is_documented_once_with_allow(document: dict[str, Any], live: Live) -> None:
    answer = document["components"]["responses"]["MethodNotAllowed"]
    assert answer["headers"]["Allow"]["required"] is True
    r = live.client.delete("/v1/score")
    assert r.status_code == 405 and r.headers["allow"] == "POST", r.headers


def test_api_keys_appear_in_the_document_only_when_configured(standin_repo: Path) -> None:
    plain = create_app(Settings(model_repository=standin_repo)).openapi()
    assert "securitySchemes" not in plain["components"]
    assert all("401" not in op["responses"] for _, _, op in operations(plain))
    keyed = create_app(Settings(model_repository=standin_repo, api_keys="k1")).openapi()
    validator.validate(copy.deepcopy(keyed))
    assert keyed["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    for path, method, op in operations(keyed):
        guarded = not path.startswith(OPEN_PATHS)
        assert ("401" in op["responses"]) == guarded == ("security" in op), f"{method.upper()} {path}"
        if guarded:
            assert op["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
