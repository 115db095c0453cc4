"""The hand-written parts of the OpenAPI document (`create_app` adds them to what FastAPI writes).

* `MODELS` and `SCHEMAS`: the schemas that bodies parsed by hand refer to (``#/components/schemas/<name>``):
  `ScoreRequest` (`ScoreOptions` plus the arrays, for the document only), the Open Inference Protocol
  documents, the error bodies;
* `complete_operations`: what every operation may answer besides its own statuses (the edge's refusals, the
  error forms and their headers), written once for all routes.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from pydantic import BaseModel, Field
from typing_extensions import TypeAliasType

import losses

from ..core.datatypes import DATATYPES
from ..core.scoring import LossSpec, ScoreOptions
from .edge import OPEN_PATHS
from .problems import V2_PREFIX

__all__ = ["MODELS", "SCHEMAS", "ScoreRequest", "complete_operations"]

_NUMBERS_REF = {"$ref": "#/components/schemas/Numbers"}

#: A number, true/false, or non-empty lists of them nested to any depth: what `as_array` reads as an array
#: (an empty array has no loss: refused).
Numbers = TypeAliasType("Numbers", "float | bool | Annotated[list[Numbers], Field(min_length=1)]")


def _loss_spec_schema() -> dict[str, Any]:
    """`LossSpec`'s schema with the loss names as an enum (`score` checks the name, not the model), and its
    integers within 64 bits (a JSON integer beyond them is read as a float, which no integer field takes)."""
    schema = LossSpec.model_json_schema(ref_template="#/components/schemas/{model}")
    schema["properties"]["name"]["enum"] = list(losses.LOSS_NAMES)
    for prop in schema["properties"].values():
        for option in prop.get("anyOf", [prop]):
            if option.get("type") == "integer":
                option.update(format="int64", minimum=-(2**63), maximum=2**63 - 1)
    return schema


class ScoreRequest(ScoreOptions):
    """A JSON score request: the arrays and the options in one object (documentation only: the route parses
    the body by hand, `ScoreOptions` checks the options)."""

    predictions: Numbers = Field(
        description="logits or probabilities: a number or (nested, rectangular) lists of numbers"
    )
    labels: Numbers | None = Field(
        None, description="targets, in predictions' shape (binary) or class indices / distributions"
    )


_SCORE_SCHEMAS: dict[str, dict[str, Any]] = {
    "LossSpec": _loss_spec_schema(),
    "ScoreResult": {
        "type": "object",
        "properties": {
            "losses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "value": {"type": ["number", "null"], "description": "null with reduction none"},
                        "reduction": {"type": "string"},
                        "per_sample": _NUMBERS_REF,
                        "gradient": _NUMBERS_REF,
                    },
                    "required": ["name", "value"],
                },
            },
            "clamped_count": {"type": "integer", "minimum": 0},
            "elements": {"type": "integer", "minimum": 0},
            "anatomy": {"type": "object"},
        },
        "required": ["losses", "clamped_count", "elements"],
    },
}

_DATATYPES = sorted(DATATYPES)
_PARAMETERS: dict[str, Any] = {"type": ["object", "null"], "description": "name -> value (null: none)"}
#: The Open Inference Protocol documents (`rest/v2_body.py` reads and writes them).
_V2_SCHEMAS: dict[str, dict[str, Any]] = {
    "InferenceRequest": {
        "type": "object",
        "description": "An Open Inference Protocol (KServe v2) inference request.",
        "properties": {
            "id": {"type": ["string", "null"], "description": "echoed in the answer"},
            "parameters": {
                **_PARAMETERS,
                "description": "request parameters: `binary_data_output: true` asks every output as binary "
                "data; a loss model takes its options here (`alpha`, `gamma`, `reduction`, `kind`, ...)",
            },
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/InferenceRequestInput"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/InferenceRequestOutput"}},
        },
        "required": ["inputs"],
    },
    "InferenceRequestInput": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": _DATATYPES},
            "data": {
                "description": "the elements, row-major: a flat list or lists nested in the shape "
                "(BYTES: strings); absent when the tensor is binary data"
            },
            "parameters": {
                **_PARAMETERS,
                "properties": {
                    "binary_data_size": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "the tensor is this many bytes of the binary data",
                    }
                },
            },
        },
        "required": ["name", "shape", "datatype"],
    },
    "InferenceRequestOutput": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "parameters": {
                **_PARAMETERS,
                "properties": {"binary_data": {"type": "boolean", "description": "send it as binary data"}},
            },
        },
        "required": ["name"],
    },
    "InferenceResponse": {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "datatype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "data": {"type": "array"},
                        "parameters": {"type": "object"},
                    },
                    "required": ["name", "datatype", "shape"],
                },
            },
        },
        "required": ["model_name", "model_version", "outputs"],
    },
}


#: RFC 9457 problem details, the error body of every route but the Open Inference Protocol's.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `field` (and its alias `argument`) names the input at fault.",
    "properties": {
        "type": {"type": "string", "description": "a stable, relative URI per kind of error"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "argument": {"type": "string"},
        "instance": {"type": "string", "description": "the request path"},
    },
    "required": ["type", "title", "status", "detail"],
}
#: The Open Inference Protocol's error body.
V2_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
#: Models and schemas the document must define: the bodies are parsed by hand, so FastAPI does not see them.
MODELS: tuple[type[BaseModel], ...] = (ScoreOptions, ScoreRequest)
SCHEMAS: dict[str, dict[str, Any]] = {
    **_SCORE_SCHEMAS,
    **_V2_SCHEMAS,
    "Problem": PROBLEM_SCHEMA,
    "V2Error": V2_ERROR_SCHEMA,
}
_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {"required": True, "schema": {"type": "string"}},
    },
    "405": {
        "Allow": {
            "required": True,
            "description": "the methods the path accepts",
            "schema": {"type": "string"},
        }
    },
    "503": {
        "Retry-After": {
            "required": False,
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
#: What `EdgeMiddleware` may answer on every path that is not open (`OPEN_PATHS`): before any route runs, or
#: while the route reads its body (408: the operations that take one).
_EDGE_RESPONSES: dict[str, str] = {
    "408": "the body did not arrive within the body deadline",
    "413": "the body is larger than the service's body limit (`max_body_bytes`)",
    "503": "the service is shutting down",
}
_AUTH_RESPONSE = "missing or wrong `X-API-Key`"


def _is_v2(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def complete_operations(spec: dict[str, Any], *, api_keys: bool) -> None:
    """Complete each operation of ``spec`` with the answers every route shares.

    * the edge's refusals (`_EDGE_RESPONSES`) on every path that is not open (408 where there is a body),
      and with API keys configured the ``ApiKey`` security scheme and its 401;
    * every 4xx/5xx answer in the form of its route: problem+json, or ``{"error": ...}`` under ``/v2``
      (a response that documents a body of its own keeps it), with its headers (401, 405, 503);
    * FastAPI's generic 422 removed under ``/v2``: a v2 route answers 400 for every client error.

    A method a path does not have is answered 405 with ``Allow``: the document says so once, as
    ``#/components/responses/MethodNotAllowed`` and in its description, since no operation can.
    """
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    v2_error = {"application/json": {"schema": {"$ref": "#/components/schemas/V2Error"}}}
    components.setdefault("responses", {})["MethodNotAllowed"] = {
        "description": "the path exists, not for this method",
        "headers": copy.deepcopy(_HEADERS["405"]),
        "content": {**copy.deepcopy(problem), **copy.deepcopy(v2_error)},  # the second under /v2
    }
    if api_keys:
        components.setdefault("securitySchemes", {})["ApiKey"] = {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
        }
    for path, item in spec.get("paths", {}).items():
        v2 = _is_v2(path)
        guarded = not path.startswith(OPEN_PATHS)
        for operation in item.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if v2:
                responses.pop("422", None)
            if guarded:
                extra = dict(_EDGE_RESPONSES)
                if "requestBody" not in operation:
                    del extra["408"]
                if api_keys:
                    extra["401"] = _AUTH_RESPONSE
                    operation["security"] = [{"ApiKey": []}]
                for status, description in extra.items():
                    if status in responses:
                        responses[status]["description"] += f"; or {description}"
                    else:
                        responses[status] = {"description": description}
            for status, response in responses.items():
                if status[0] not in "45":
                    continue
                content = response.get("content") or {}
                if not content or any(
                    "HTTPValidationError" in str(c.get("schema")) for c in content.values()
                ):
                    response["content"] = copy.deepcopy(v2_error if v2 else problem)
                if status in _HEADERS:
                    response.setdefault("headers", {}).update(copy.deepcopy(_HEADERS[status]))
            operation["responses"] = dict(sorted(responses.items()))
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(spec.get("paths")):
            schemas.pop(unused, None)
