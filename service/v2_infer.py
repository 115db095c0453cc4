"""Open Inference Protocol inference over REST: ``POST /v2/models/{name}[/versions/{version}]/infer``.

Request: a JSON object ``{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data"? ,
"parameters"?: {"binary_data_size"?}}], "outputs"?: [{"name", "parameters"?: {"binary_data"?}}]}``. Tensor
data is JSON (flat or nested ``data``) or, with the binary tensor data extension, raw bytes after the JSON
header (``Inference-Header-Content-Length`` says where the header ends; each binary input gives its
``binary_data_size``, in input order). The body may be ``gzip``/``deflate`` coded (``Content-Encoding``).

Response: ``{"model_name", "model_version", "id"?, "outputs": [{"name", "datatype", "shape", "data" |
"parameters": {"binary_data_size"}}]}``; an output is binary when it asks ``binary_data: true`` or the request
says ``binary_data_output: true`` (and the output does not say false); the response is coded as
``Accept-Encoding`` prefers. Errors are ``{"error": "..."}`` (400 bad input, 404 unknown model or version).

`install` registers the loss models as v2 models and lists the extension in server metadata.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from service.errors import InvalidInput
from service.routers import get_state
from service.state import ServiceState
from service.v2_infer_codec import (
    choose_encoding,
    datatype_of,
    decode_body,
    encode_body,
    join_binary_body,
    split_binary_body,
    tensor_from_json,
    tensor_from_raw,
    tensor_to_json,
    tensor_to_raw,
)
from service.v2_infer_models import infer, register_loss_models

__all__ = ["decode_request", "encode_response", "install", "router"]

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"])

EXTENSIONS = ("binary_tensor_data",)

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


def install(state: ServiceState) -> None:
    """Register the loss models (``focal_loss``, ...) and list ``binary_tensor_data`` in ``GET /v2``."""
    register_loss_models(state)
    for extension in EXTENSIONS:
        if extension not in state.v2_extensions:
            state.v2_extensions.append(extension)


def _obj(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field}: must be an object", field=field)
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{field}: must be a list", field=field)
    return value


def decode_request(
    header: dict[str, Any], tail: bytes | memoryview
) -> tuple[dict[str, Any], dict[str, Any], list[str], set[str]]:
    """Inputs, parameters, requested outputs and outputs wanted binary, from a parsed request.

    Returns:
        ``(inputs {name: array}, parameters, requested output names, names of outputs to send binary)``.
    """
    parameters = _obj(header.get("parameters"), "parameters")
    inputs: dict[str, Any] = {}
    offset = 0
    for i, spec in enumerate(_list(header.get("inputs"), "inputs")):
        spec = _obj(spec, f"inputs[{i}]")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"inputs[{i}].name: must be a non-empty string", field=f"inputs[{i}].name")
        field = f"inputs.{name}"
        if name in inputs:
            raise InvalidInput(f"{field}: given twice", field=field)
        shape, datatype = spec.get("shape"), spec.get("datatype")
        if not isinstance(shape, list) or not isinstance(datatype, str):
            raise InvalidInput(f"{field}: needs a shape (list) and a datatype (string)", field=field)
        size = _obj(spec.get("parameters"), f"{field}.parameters").get("binary_data_size")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0 or offset + size > len(tail):
                raise InvalidInput(
                    f"{field}: binary_data_size {size!r} exceeds the {len(tail) - offset} binary bytes left",
                    field=field,
                )
            inputs[name] = tensor_from_raw(tail[offset : offset + size], datatype, shape, field)
            offset += size
        elif "data" in spec:
            inputs[name] = tensor_from_json(spec["data"], datatype, shape, field)
        else:
            raise InvalidInput(f"{field}: has neither data nor parameters.binary_data_size", field=field)
    if offset != len(tail):
        raise InvalidInput(
            f"body: {len(tail) - offset} binary bytes after the inputs' binary_data_size total",
            field="Inference-Header-Content-Length",
        )
    all_binary = parameters.get("binary_data_output") is True
    requested: list[str] = []
    binary: set[str] = set()
    for i, out in enumerate(_list(header.get("outputs", []), "outputs")):
        out = _obj(out, f"outputs[{i}]")
        name = out.get("name")
        if not isinstance(name, str):
            raise InvalidInput(f"outputs[{i}].name: must be a string", field=f"outputs[{i}].name")
        requested.append(name)
        flag = _obj(out.get("parameters"), f"outputs.{name}.parameters").get("binary_data")
        if flag is True or (flag is None and all_binary):
            binary.add(name)
    if not requested and all_binary:
        binary.add("*")
    return inputs, parameters, requested, binary


def encode_response(
    model: str, version: str, request_id: Any, outputs: dict[str, Any], binary: set[str]
) -> tuple[bytes, int | None]:
    """The response body (JSON header + binary outputs) and its header length (None when all JSON)."""
    described: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in outputs.items():
        entry: dict[str, Any] = {
            "name": name,
            "datatype": datatype_of(array.dtype),
            "shape": list(array.shape),
        }
        if name in binary or "*" in binary:
            blob = tensor_to_raw(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = tensor_to_json(array)
        described.append(entry)
    header: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": described}
    if request_id is not None:
        header["id"] = request_id
    return join_binary_body(header, blobs)


async def _infer(request: Request, name: str, version: str | None, state: ServiceState) -> Response:
    settings = state.settings
    body = decode_body(await request.body(), request.headers.get("content-encoding"), settings.max_body_bytes)
    length = request.headers.get("inference-header-content-length")
    try:
        header_length = None if length is None else int(length)
    except ValueError:
        raise InvalidInput(
            f"Inference-Header-Content-Length: {length!r} is not an integer",
            field="Inference-Header-Content-Length",
        ) from None
    header, tail = split_binary_body(body, header_length)
    inputs, parameters, requested, binary = decode_request(header, tail)
    result = await infer(
        state, name, version, inputs, parameters, requested or None, settings.request_timeout_s
    )
    payload, json_length = encode_response(
        result.model, result.version, header.get("id"), result.outputs, binary
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
async def model_infer(name: str, request: Request, state: ServiceState = Depends(get_state)) -> Response:
    """Run the model's default version (a detector, or a loss model such as ``focal_loss``)."""
    return await _infer(request, name, None, state)


@router.post(
    "/models/{name}/versions/{version}/infer", summary="Inference on one version", openapi_extra=_DOC
)
async def model_version_infer(
    name: str, version: str, request: Request, state: ServiceState = Depends(get_state)
) -> Response:
    """Run one version of the model."""
    return await _infer(request, name, version, state)
