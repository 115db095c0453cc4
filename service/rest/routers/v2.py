"""The Open Inference Protocol (KServe v2) over REST: health, metadata, readiness and infer under ``/v2``.

Every answer comes from the shared `service.oip.Dataplane` (the gRPC inference service uses the same one);
this module only reads and writes HTTP: the JSON documents and the binary tensor data extension
(`service.rest.v2_body`), and ``gzip``/``deflate`` content coding (`service.rest.coding`). Errors are
``{"error": "..."}`` (`service.rest.problems.V2Route`): 400 bad input, 404 unknown model or version.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ...core.state import ServiceState
from ...errors import InvalidInput
from ...oip import Dataplane
from ..coding import choose_encoding, encode_body
from ..problems import V2_PREFIX, V2Route
from ..v2_body import decode_body_and_request, encode_response
from . import get_dataplane

__all__ = ["router"]

router = APIRouter(prefix=V2_PREFIX, tags=["v2 (Open Inference Protocol)"], route_class=V2Route)

_READY: dict[int | str, dict[str, Any]] = {
    200: {"description": "ready"},
    503: {"description": "not ready", "content": {"application/json": {}}},
}
_MODEL_READY: dict[int | str, dict[str, Any]] = {
    200: {"description": "ready"},
    404: {"description": "unknown model or version"},
    503: {
        "description": "not ready",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "ready": {"const": False}},
                            "required": ["name", "ready"],
                        },
                        {"$ref": "#/components/schemas/V2Error"},
                    ]
                }
            }
        },
    },
}
_METADATA: dict[int | str, dict[str, Any]] = {404: {"description": "unknown model or version"}}
_EXAMPLE = {
    "inputs": [
        {"name": "logits", "shape": [2, 2], "datatype": "FP32", "data": [[2.0, -1.0], [0.5, -3.0]]},
        {"name": "targets", "shape": [2, 2], "datatype": "FP32", "data": [[1, 0], [0, 0]]},
    ],
    "parameters": {"alpha": 0.25, "gamma": 2.0, "reduction": "mean"},
}
_BINARY = {
    "schema": {
        "type": "string",
        "format": "binary",
        "description": "the binary tensor data extension: the JSON InferenceRequest, then the tensors' "
        "bytes; the `Inference-Header-Content-Length` header gives the JSON part's length",
    }
}
_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "Inference-Header-Content-Length",
            "in": "header",
            "required": False,
            "description": "binary tensor data extension: the length of the JSON part of the body",
            "schema": {"type": "integer", "minimum": 0},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/InferenceRequest"},
                "example": _EXAMPLE,
            },
            "application/octet-stream": _BINARY,
        },
    },
}
_INFER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the outputs; with binary outputs, the JSON part then their bytes",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceResponse"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    400: {"description": "bad input"},
    404: {"description": "unknown model or version"},
    406: {"description": "JSON outputs with more elements than the limit: ask for binary data"},
    413: {"description": "a tensor with more elements than the limit"},
    500: {"description": "the model failed to run"},
    503: {"description": "queue full (Retry-After) or model not ready"},
    504: {"description": "not answered within the request timeout"},
}


@router.get("/health/live", summary="Server liveness")
async def live(dataplane: Dataplane = Depends(get_dataplane)) -> dict[str, bool]:
    """200 while the process serves HTTP at all."""
    return {"live": dataplane.live()}


@router.get("/health/ready", summary="Server readiness", responses=_READY)
async def ready(response: Response, dataplane: Dataplane = Depends(get_dataplane)) -> dict[str, bool]:
    """200 when every model is loaded and warmed up and the server is not draining, else 503."""
    ok = dataplane.ready()
    response.status_code = 200 if ok else 503
    return {"ready": ok}


@router.get("", summary="Server metadata")
async def server_metadata(dataplane: Dataplane = Depends(get_dataplane)) -> dict[str, Any]:
    """Name, version and the protocol extensions this server implements."""
    return dataplane.server_metadata()


@router.get("/models/{name}", summary="Model metadata", responses=_METADATA)
async def model_metadata(name: str, dataplane: Dataplane = Depends(get_dataplane)) -> dict[str, Any]:
    """Versions, platform, input and output tensors of the model's default version."""
    return dataplane.model_metadata(name)


@router.get("/models/{name}/versions/{version}", summary="Model version metadata", responses=_METADATA)
async def model_version_metadata(
    name: str, version: str, dataplane: Dataplane = Depends(get_dataplane)
) -> dict[str, Any]:
    """Metadata of one version of a model."""
    return dataplane.model_metadata(name, version)


@router.get("/models/{name}/ready", summary="Model readiness", responses=_MODEL_READY)
async def model_ready(
    name: str, response: Response, dataplane: Dataplane = Depends(get_dataplane)
) -> dict[str, Any]:
    """200 when the model's default version is loaded and warm, 503 otherwise, 404 if unknown."""
    ok = dataplane.model_ready(name)
    response.status_code = 200 if ok else 503
    return {"name": name, "ready": ok}


@router.get(
    "/models/{name}/versions/{version}/ready", summary="Model version readiness", responses=_MODEL_READY
)
async def model_version_ready(
    name: str, version: str, response: Response, dataplane: Dataplane = Depends(get_dataplane)
) -> dict[str, Any]:
    """200 when that version is loaded and warm, 503 otherwise, 404 if unknown."""
    ok = dataplane.model_ready(name, version)
    response.status_code = 200 if ok else 503
    return {"name": name, "ready": ok}


async def _infer(request: Request, name: str, version: str | None, dataplane: Dataplane) -> Response:
    state: ServiceState = dataplane.state
    settings = state.settings
    length = request.headers.get("inference-header-content-length")
    try:
        header_length = None if length is None else int(length)
    except ValueError:
        raise InvalidInput(f"{length!r} is not an integer", field="Inference-Header-Content-Length") from None
    body = await request.body()
    args = (body, request.headers.get("content-encoding"), header_length, settings.max_body_bytes)
    if len(body) <= settings.inline_preprocess_bytes:  # small: a thread hop would cost more than it saves
        header, inputs, parameters, requested, binary = decode_body_and_request(*args)
    else:
        header, inputs, parameters, requested, binary = await state.in_cpu_pool(
            decode_body_and_request, *args
        )
    if not isinstance(header.get("id", ""), str | None):  # the protocol's id is a string (null: none)
        raise InvalidInput("must be a string", field="id")
    result = await dataplane.infer(
        name, version, inputs, parameters, requested or None, settings.request_timeout_s
    )
    payload, json_length = encode_response(
        result.model,
        result.version,
        header.get("id"),
        result.outputs,
        binary,
        settings.max_json_answer_elements,
    )
    headers: dict[str, str] = {}
    if json_length is not None:
        headers["Inference-Header-Content-Length"] = str(json_length)
    coding = choose_encoding(request.headers.get("accept-encoding"))
    if coding is not None:
        payload = (
            await state.in_cpu_pool(encode_body, payload, coding)
            if len(payload) > 65536
            else encode_body(payload, coding)
        )
        headers["Content-Encoding"] = coding
    media = "application/octet-stream" if json_length is not None else "application/json"
    return Response(payload, media_type=media, headers=headers)


@router.post(
    "/models/{name}/infer",
    summary="Inference (Open Inference Protocol)",
    openapi_extra=_DOC,
    responses=_INFER,
    response_class=Response,
)
async def model_infer(name: str, request: Request, dataplane: Dataplane = Depends(get_dataplane)) -> Response:
    """Run the model's default version (a detector, or a loss model such as ``focal_loss``)."""
    return await _infer(request, name, None, dataplane)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Inference on one version",
    openapi_extra=_DOC,
    responses=_INFER,
    response_class=Response,
)
async def model_version_infer(
    name: str, version: str, request: Request, dataplane: Dataplane = Depends(get_dataplane)
) -> Response:
    """Run one version of the model."""
    return await _infer(request, name, version, dataplane)
