"""The model repository extension over REST, in Triton's shapes (`service.core.model_control` does the work).

* ``POST /v2/repository/index`` (body optional, ``{"ready": true}``: READY models only): a JSON array of
  ``{"name", "version", "state", "reason"}``;
* ``POST /v2/repository/models/{name}/load`` (body optional, ``{"parameters": {"config": "<JSON
  ModelConfig>"}}``: a configuration instead of config.pbtxt): 200 with an empty body once it serves;
* ``POST /v2/repository/models/{name}/unload`` (body optional, ``{"parameters": {...}}``, which Triton's
  ``unload_dependents`` may be part of and which is otherwise unused): 200 with an empty body.

Every call needs header ``x-admin-key`` (403 without it, and 403 while no admin key is configured); load and
unload answer 400 outside ``model_control_mode: explicit``. Bodies are read by hand, so that the empty body
tritonclient sends is accepted; a body that is not what the route takes is 400, naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ...core.model_control import ADMIN_HEADER
from ...errors import InvalidInput
from ...oip import Dataplane
from ..problems import V2_PREFIX, V2Route
from . import get_dataplane

__all__ = ["SCHEMAS", "router"]

router = APIRouter(
    prefix=V2_PREFIX + "/repository", tags=["v2 (Open Inference Protocol)"], route_class=V2Route
)

_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "parameters": {
            "type": "object",
            "properties": {
                "config": {
                    "type": "string",
                    "description": "load: a JSON ModelConfig used instead of config.pbtxt (it reads name, "
                    "max_batch_size, version_policy)",
                },
                "unload_dependents": {"type": "boolean", "description": "unload: accepted, unused"},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}
#: The schemas of this router's documents (``#/components/schemas/<name>``).
SCHEMAS: dict[str, dict[str, Any]] = {
    "RepositoryIndexRequest": {
        "type": "object",
        "properties": {"ready": {"type": "boolean", "description": "only the models that are READY"}},
        "additionalProperties": False,
    },
    "RepositoryIndex": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string", "description": "empty for a model that serves no version"},
                "state": {"enum": ["READY", "LOADING", "UNAVAILABLE"]},
                "reason": {"type": "string", "description": "why it is UNAVAILABLE"},
            },
            "required": ["name", "version", "state", "reason"],
        },
    },
    "RepositoryModelRequest": _PARAMETERS,
}
_ADMIN = {
    "name": ADMIN_HEADER,
    "in": "header",
    "required": False,
    "description": "one of the admin keys (without a configured admin key the API is refused: 403)",
    "schema": {"type": "string"},
}
_FORBIDDEN = "no admin key configured, or header x-admin-key is not one of them"


def _body(schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {
        "parameters": [_ADMIN],
        "requestBody": {"required": False, "content": {"application/json": {"schema": ref}}},
    }


async def _document(request: Request) -> dict[str, Any]:
    """The JSON object of the body; ``{}`` for an empty body."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return document


def _only(document: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown member {unknown[0]!r} (allowed: {sorted(allowed)})", field=where or "body"
        )


async def _parameters(request: Request) -> dict[str, Any]:
    document = await _document(request)
    _only(document, {"parameters"}, "")
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("must be an object", field="parameters")
    _only(parameters, {"config", "unload_dependents"}, "parameters")
    if "config" in parameters and not isinstance(parameters["config"], str):
        raise InvalidInput("must be a string holding a JSON ModelConfig", field="parameters.config")
    if "unload_dependents" in parameters and not isinstance(parameters["unload_dependents"], bool):
        raise InvalidInput("must be true or false", field="parameters.unload_dependents")
    return parameters


_INDEX_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "every model folder, with its served versions",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RepositoryIndex"}}},
    },
    400: {"description": 'a body that is not {"ready": bool}'},
    403: {"description": _FORBIDDEN},
}
_MODEL_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "done (an empty body)"},
    400: {
        "description": "a bad body or configuration, a version that failed to load, or a model control mode "
        "other than explicit"
    },
    403: {"description": _FORBIDDEN},
    404: {"description": "no such model folder in the repository"},
    503: {"description": "the models of load_models are still loading"},
}


@router.post(
    "/index",
    summary="Model repository index",
    openapi_extra=_body("RepositoryIndexRequest"),
    responses=_INDEX_ANSWERS,
    response_model=None,
)
async def repository_index(request: Request, dataplane: Dataplane = Depends(get_dataplane)) -> Any:
    """Every model folder of the repository, loaded or not, with each served version's state."""
    document = await _document(request)
    _only(document, {"ready"}, "")
    ready = document.get("ready", False)
    if not isinstance(ready, bool):
        raise InvalidInput("must be true or false", field="ready")
    return await dataplane.repository_index(request.headers.get(ADMIN_HEADER), ready=ready)


@router.post(
    "/models/{name}/load",
    summary="Load a model",
    openapi_extra=_body("RepositoryModelRequest"),
    responses=_MODEL_ANSWERS,
    response_class=Response,
)
async def load_model(name: str, request: Request, dataplane: Dataplane = Depends(get_dataplane)) -> Response:
    """Load (or reload) the model from its folder, its versions warmed up before they take traffic
    (explicit model control mode)."""
    parameters = await _parameters(request)
    await dataplane.load_model(name, request.headers.get(ADMIN_HEADER), parameters.get("config"))
    return Response(status_code=200)


@router.post(
    "/models/{name}/unload",
    summary="Unload a model",
    openapi_extra=_body("RepositoryModelRequest"),
    responses=_MODEL_ANSWERS,
    response_class=Response,
)
async def unload_model(
    name: str, request: Request, dataplane: Dataplane = Depends(get_dataplane)
) -> Response:
    """Stop serving the model; what its versions hold finishes on them (explicit model control mode)."""
    await _parameters(request)
    await dataplane.unload_model(name, request.headers.get(ADMIN_HEADER))
    return Response(status_code=200)
