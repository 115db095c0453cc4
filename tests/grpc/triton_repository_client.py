"""Run by test_tritonclient_repository.py in its OWN process (see triton_client.py): tritonclient's model
repository calls, gRPC then HTTP, against a service in explicit model control mode (or, given a fourth
argument ``none`` / ``poll``, the calls a service in that mode refuses). Prints one JSON object."""

from __future__ import annotations

import json
import sys
from typing import Any

import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def _error(call: Any) -> list[object]:
    try:
        call()
    except InferenceServerException as exc:
        return [str(exc.status()), exc.message()]
    return ["no error"]


def _ready(client: Any, headers: dict[str, str]) -> object:
    try:
        return bool(client.is_model_ready("detector", headers=dict(headers)))
    except InferenceServerException as exc:
        return str(exc.status())


def session(client: Any, headers: dict[str, str], *, grpc: bool) -> dict[str, object]:
    """The same calls through one client; ``headers`` copied per call (tritonclient.http adds to them)."""
    out: dict[str, object] = {}
    kw: dict[str, Any] = {"as_json": True} if grpc else {}

    def index() -> object:
        answer = client.get_model_repository_index(headers=dict(headers), **kw)
        return answer.get("models", []) if grpc else answer

    out["index_before"] = index()
    out["no_key"] = _error(lambda: client.load_model("detector"))
    out["wrong_key"] = _error(lambda: client.get_model_repository_index(headers={"x-admin-key": "nope"}))
    client.load_model("detector", headers=dict(headers))
    out["ready_after_load"] = _ready(client, headers)
    out["index_loaded"] = index()
    out["config_before"] = client.get_model_config("detector", headers=dict(headers), **kw)
    client.load_model("detector", headers=dict(headers), config=json.dumps({"max_batch_size": 2}))
    out["config_override"] = client.get_model_config("detector", headers=dict(headers), **kw)
    out["ready_after_override"] = _ready(client, headers)
    out["unknown"] = _error(lambda: client.load_model("nope", headers=dict(headers)))
    client.unload_model("detector", headers=dict(headers))
    out["ready_after_unload"] = _ready(client, headers)
    out["index_after"] = index()
    return out


def refusals(client: Any, headers: dict[str, str], *, grpc: bool) -> dict[str, object]:
    """Outside explicit mode the index answers; load and unload are refused, admin key or not."""
    kw: dict[str, Any] = {"as_json": True} if grpc else {}
    index = client.get_model_repository_index(headers=dict(headers), **kw)
    return {
        "index": index.get("models", []) if grpc else index,
        "load": _error(lambda: client.load_model("detector", headers=dict(headers))),
        "unload": _error(lambda: client.unload_model("detector", headers=dict(headers))),
        "ready": _ready(client, headers),
    }


def main(grpc_target: str, http_url: str, admin_key: str, mode: str = "explicit") -> dict[str, object]:
    headers = {"x-admin-key": admin_key}
    run = session if mode == "explicit" else refusals
    out: dict[str, object] = {}
    out["grpc"] = run(grpcclient.InferenceServerClient(grpc_target), headers, grpc=True)
    out["http"] = run(httpclient.InferenceServerClient(http_url.removeprefix("http://")), headers, grpc=False)
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
