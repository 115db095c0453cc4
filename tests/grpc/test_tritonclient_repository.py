"""NVIDIA's tritonclient (gRPC and HTTP) and the model repository extension: index, load (with a
configuration), unload, against a service in explicit model control mode with an admin key.

The client runs in its own process (triton_repository_client.py); this process checks its answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.grpc.live import live_service, run_client
from tests.service.standin import write_repository

SCRIPT = Path(__file__).with_name("triton_repository_client.py")
ADMIN = "admin-0123"


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    repo = write_repository(tmp_path_factory.mktemp("explicit-repo"), name="detector")
    log = tmp_path_factory.mktemp("explicit-log") / "service.log"
    with live_service(repo, log, model_control_mode="explicit", admin_keys=ADMIN) as service:
        answer: dict[str, dict[str, object]] = run_client(
            SCRIPT, service.grpc_target, service.http_url, ADMIN
        )
    return answer


def _full(models: object) -> list[dict[str, object]]:
    """Index entries with every field (gRPC's JSON form leaves out empty strings)."""
    assert isinstance(models, list)
    return [{"name": "", "version": "", "state": "", "reason": "", **m} for m in models]


@pytest.mark.parametrize("client", ["grpc", "http"])
def test_index_load_and_unload(answers, client: str) -> None:
    got = {k: _full(v) if k.startswith("index") else v for k, v in answers[client].items()}
    unloaded = [{"name": "detector", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"}]
    assert got["index_before"] == got["index_after"] == unloaded
    assert got["ready_after_load"] is True and got["ready_after_override"] is True
    loaded = got["index_loaded"]
    assert [(m["name"], m["version"], m["state"]) for m in loaded] == [("detector", "1", "READY")]
    unloaded_ready = "StatusCode.NOT_FOUND" if client == "grpc" else "400"
    assert got["ready_after_unload"] in (False, unloaded_ready)


@pytest.mark.parametrize("client", ["grpc", "http"])
def test_a_load_with_a_configuration_changes_max_batch_size(answers, client: str) -> None:
    got = answers[client]
    before, after = got["config_before"], got["config_override"]
    if client == "grpc":
        before, after = before["config"], after["config"]
    assert int(before["max_batch_size"]) == 8 and int(after["max_batch_size"]) == 2


@pytest.mark.parametrize("client", ["grpc", "http"])
def test_without_the_admin_key_the_calls_are_refused(answers, client: str) -> None:
    got = answers[client]
    for status, message in (got["no_key"], got["wrong_key"]):
        assert status in ("StatusCode.PERMISSION_DENIED", "403"), status
        assert "admin key" in message
    status, message = got["unknown"]
    assert status in ("StatusCode.NOT_FOUND", "404") and "nope" in message


@pytest.mark.parametrize("mode", ["none", "poll"])
def test_outside_explicit_mode_load_and_unload_are_refused_as_triton_does(
    tmp_path_factory: pytest.TempPathFactory, mode: str
) -> None:
    repo = write_repository(tmp_path_factory.mktemp(f"{mode}-repo"), name="detector")
    log = tmp_path_factory.mktemp(f"{mode}-log") / "service.log"
    with live_service(repo, log, model_control_mode=mode, admin_keys=ADMIN) as service:
        answers = run_client(SCRIPT, service.grpc_target, service.http_url, ADMIN, mode)
    for client, got in answers.items():
        assert [(m["name"], m["state"]) for m in got["index"]] == [("detector", "READY")], client
        for call in ("load", "unload"):
            status, message = got[call]
            assert status in ("StatusCode.FAILED_PRECONDITION", "400"), (client, call, status)
            assert "explicit" in message and mode in message, (client, call, message)
        assert got["ready"] is True, client  # the refused unload left the model serving
