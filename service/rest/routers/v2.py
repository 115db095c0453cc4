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
from ..coding import choose_encoding, decode_body, encode_body
from ..problems import V2_PREFIX, V2Route
from ..v2_body import decode_request, encode_response, split_binary_body
from . import get_dataplane

__all__ = ["router"]

router = APIRouter(prefix=V2_PREFIX, tags=["v2 (Open Inference Protocol)"], route_class=V2Route)

_READY: dict[int | str, dict[str, Any]] = {
    200: {"description": "ready"},
    503: {"description": "not ready", "content": {"application/json": {}}},
}
_EXAMPLE = {
    "inputs": [
        {"name": "logits", "shape": [2, 2], "datatype": "FP32", "data": [[2.0, -1.0], [0.5, -3.0]]},
        {"name": "targets", "shape": [2, 2], "datatype": "FP32", "data": [[1, 0], [0, 0]]},
    ],
    "parameters": {"alpha": 0.25, "gamma": 2.0, "reduction": "mean"},
}
_DOC = {
    "requestBody": {"content": {"application/json": {"example": _EXAMPLE}, "application/octet-stream": {}}},
    "responses": {"400": {"description": "bad input"}, "404": {"description": "unknown model or version"}},
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


@router.get("/models/{name}", summary="Model metadata")
async def model_metadata(name: str, dataplane: Dataplane = Depends(get_dataplane)) -> dict[str, Any]:
    """Versions, platform, input and output tensors of the model's default version."""
    return dataplane.model_metadata(name)


@router.get("/models/{name}/versions/{version}", summary="Model version metadata")
async def model_version_metadata(
    name: str, version: str, dataplane: Dataplane = Depends(get_dataplane)
) -> dict[str, Any]:
    """Metadata of one version of a model."""
    return dataplane.model_metadata(name, version)


@router.get("/models/{name}/ready", summary="Model readiness", responses=_READY)
async def model_ready(
    name: str, response: Response, dataplane: Dataplane = Depends(get_dataplane)
) -> dict[str, Any]:
    """200 when the model's default version is loaded and warm, 503 otherwise, 404 if unknown."""
    ok = dataplane.model_ready(name)
    response.status_code = 200 if ok else 503
    return {"name": name, "ready": ok}


@router.get("/models/{name}/versions/{version}/ready", summary="Model version readiness", responses=_READY)
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
    body = decode_body(await request.body(), request.headers.get("content-encoding"), settings.max_body_bytes)
    length = request.headers.get("inference-header-content-length")
    try:
        header_length = None if length is None else int(length)
    except ValueError:
        raise InvalidInput(f"{length!r} is not an integer", field="Inference-Header-Content-Length") from None
    header, tail = split_binary_body(body, header_length)
    inputs, parameters, requested, binary = decode_request(header, tail)
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


@router.post("/models/{name}/infer", summary="Inference (Open Inference Protocol)", openapi_extra=_DOC)
async def model_infer(name: str, request: Request, dataplane: Dataplane = Depends(get_dataplane)) -> Response:
    """Run the model's default version (a detector, or a loss model such as ``focal_loss``)."""
    return await _infer(request, name, None, dataplane)


@router.post(
    "/models/{name}/versions/{version}/infer", summary="Inference on one version", openapi_extra=_DOC
)
async def model_version_infer(
    name: str, version: str, request: Request, dataplane: Dataplane = Depends(get_dataplane)
) -> Response:
    """Run one version of the model."""
    return await _infer(request, name, version, dataplane)
