"""The model repository extension over REST and ``model_control_mode: explicit`` (tritonclient's view of the
same calls is tests/grpc/test_tritonclient_repository.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from service.core.model_control import read_override
from service.errors import InvalidInput
from service.settings import Settings
from tests.live import run_in_thread
from tests.load import DetectClients, until
from tests.service.standin import write_repository

ADMIN = "admin-key-42"
EXPLICIT = {"model_control_mode": "explicit", "admin_keys": ADMIN}
HEADERS = {"x-admin-key": ADMIN}


def _repository(root: Path) -> Path:
    write_repository(root, versions=(1, 2))
    return write_repository(root, name="other")


def _index(client: httpx.Client, **body: object) -> list[dict[str, str]]:
    r = client.post("/v2/repository/index", json=body or None, headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _config(policy: dict[str, object], **fields: object) -> dict[str, object]:
    return {"parameters": {"config": json.dumps({"version_policy": policy, **fields})}}


def test_settings_read_load_models_and_admin_keys_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("FOCALSERVE_LOAD_MODELS", "a, b,")
    monkeypatch.setenv("FOCALSERVE_ADMIN_KEYS", "k1,k2")
    monkeypatch.setenv("FOCALSERVE_MODEL_CONTROL_MODE", "explicit")
    settings = Settings()
    assert settings.load_models == ["a", "b"] and settings.model_control_mode == "explicit"
    assert [k.get_secret_value() for k in settings.admin_keys] == ["k1", "k2"]


def test_explicit_mode_loads_nothing_at_start_then_what_it_is_told(tmp_path: Path) -> None:
    with run_in_thread(_repository(tmp_path / "repo"), **EXPLICIT) as service:
        client = service.client
        assert _index(client) == [
            {"name": "other", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"},
            {"name": "standin", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"},
        ]
        assert client.get("/v2/models/standin").status_code == 404
        r = client.post("/v2/repository/models/standin/load", headers=HEADERS)
        assert r.status_code == 200 and r.content == b""
        assert [(m["name"], m["version"], m["state"]) for m in _index(client, ready=True)] == [
            ("standin", "1", "READY"),
            ("standin", "2", "READY"),
        ]
        assert client.get("/v2/models/standin/ready").status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
        r = client.post("/v2/repository/models/standin/unload", json={"parameters": {}}, headers=HEADERS)
        assert r.status_code == 200
        assert client.get("/v2/models/standin").status_code == 404
        assert _index(client, ready=True) == []
        # unloading what is not loaded is no error; a model with no folder is
        assert client.post("/v2/repository/models/other/unload", headers=HEADERS).status_code == 200
        r = client.post("/v2/repository/models/nope/load", headers=HEADERS)
        assert r.status_code == 404 and "nope" in r.json()["error"]
        assert "model_repository" in client.get("/v2").json()["extensions"]


def test_load_models_at_start_and_a_config_override(tmp_path: Path) -> None:
    with run_in_thread(_repository(tmp_path / "repo"), load_models="standin", **EXPLICIT) as service:
        client = service.client
        assert [m["state"] for m in _index(client) if m["name"] == "other"] == ["UNAVAILABLE"]
        assert client.get("/v2/models/standin/config").json()["max_batch_size"] == 8
        body = _config({"specific": {"versions": [1]}}, max_batch_size=2, name="standin")
        r = client.post("/v2/repository/models/standin/load", json=body, headers=HEADERS)
        assert r.status_code == 200, r.text
        config = client.get("/v2/models/standin/config").json()
        assert config["max_batch_size"] == 2
        assert config["version_policy"] == {"specific": {"versions": [1]}}
        assert client.get("/v2/models/standin").json()["versions"] == ["1"]
        # without an override, config.pbtxt again
        assert client.post("/v2/repository/models/standin/load", headers=HEADERS).status_code == 200
        assert client.get("/v2/models/standin").json()["versions"] == ["1", "2"]
        assert client.get("/v2/models/standin/config").json()["max_batch_size"] == 8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": {"config": json.dumps({"instance_group": []})}}, "parameters.config"),
        ({"parameters": {"config": "{"}}, "parameters.config"),
        ({"parameters": {"config": json.dumps({"max_batch_size": -1})}}, "max_batch_size"),
        ({"parameters": {"config": json.dumps({"version_policy": {"latest": 3}})}}, "version_policy"),
        ({"parameters": {"config": json.dumps({"name": "other"})}}, "parameters.config.name"),
        ({"parameters": {"file:1/model.onnx": "AAAA"}}, "parameters"),
        ({"parameters": {"config": 5}}, "parameters.config"),
        ({"nope": 1}, "body"),
    ],
)
def test_a_bad_load_body_is_refused_naming_the_field(tmp_path: Path, body: object, field: str) -> None:
    with run_in_thread(_repository(tmp_path / "repo"), **EXPLICIT) as service:
        r = service.client.post("/v2/repository/models/standin/load", json=body, headers=HEADERS)
        assert r.status_code == 400, r.text
        assert field in r.json()["error"]
        assert service.client.get("/v2/models/standin").status_code == 404


def test_the_override_reader_keeps_only_what_it_knows() -> None:
    config = read_override("m", json.dumps({"version_policy": {"latest": {"num_versions": 2}}}))
    assert config.version_policy.num_versions == 2 and config.max_batch_size == 0
    assert read_override(
        "m", '{"version_policy": {"specific": {"versions": ["3"]}}}'
    ).version_policy.versions == (3,)
    with pytest.raises(InvalidInput, match="dynamic_batching"):
        read_override("m", '{"dynamic_batching": {}}')


def test_the_repository_api_needs_the_admin_key(tmp_path: Path) -> None:
    with run_in_thread(_repository(tmp_path / "repo"), **EXPLICIT) as service:
        for path in ("index", "models/standin/load", "models/standin/unload"):
            for headers in ({}, {"x-admin-key": "wrong"}):
                r = service.client.post(f"/v2/repository/{path}", headers=headers)
                assert r.status_code == 403 and "admin key" in r.json()["error"], path
        assert service.client.get("/v2/models/standin").status_code == 404


def test_without_admin_keys_the_repository_api_is_off(tmp_path: Path) -> None:
    with run_in_thread(_repository(tmp_path / "repo"), model_control_mode="explicit") as service:
        r = service.client.post("/v2/repository/index", headers=HEADERS)
        assert r.status_code == 403 and "admin_keys" in r.json()["error"]


@pytest.mark.parametrize("mode", ["none", "poll"])
def test_load_and_unload_are_refused_outside_explicit_mode(tmp_path: Path, mode: str) -> None:
    with run_in_thread(_repository(tmp_path / "repo"), model_control_mode=mode, admin_keys=ADMIN) as service:
        assert {m["name"] for m in _index(service.client, ready=True)} == {"other", "standin"}
        for action in ("load", "unload"):
            r = service.client.post(f"/v2/repository/models/standin/{action}", headers=HEADERS)
            assert r.status_code == 400, r.text
            assert (
                f"explicit model {action} is not allowed in model control mode {mode!r}" in r.json()["error"]
            )
        assert service.client.get("/v2/models/standin/ready").status_code == 200


def test_requests_do_not_fail_while_versions_are_loaded_and_unloaded(tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo")
    with run_in_thread(root, load_models="*", **EXPLICIT) as service:
        client = service.client
        load_url = "/v2/repository/models/standin/load"
        with DetectClients(service.http_url + "/v1/models/standin/detect") as load:
            until(lambda: len(load.answers) > 30, "the clients never got going")
            steps = [
                _config({"specific": {"versions": [1]}}),  # version 2 unloaded, 1 serves
                _config({"specific": {"versions": [1]}}, max_batch_size=4),  # version 1 reloaded
                _config({"all": {}}),  # version 2 back
            ]
            for body in steps:
                seen = len(load.answers)
                assert client.post(load_url, json=body, headers=HEADERS).status_code == 200
                until(lambda s=seen: len(load.answers) > s + 30, "the clients stopped")
        assert client.get("/v2/models/standin").json()["versions"] == ["1", "2"]
    statuses = {status for status, _ in load.answers}
    assert statuses == {200}, [a for a in load.answers if a[0] != 200][:3]
    versions = [version for _, version in load.answers]
    assert versions[0] == "2" and "1" in versions and versions[-1] == "2"
