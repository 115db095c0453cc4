"""Scoring sessions over REST: ``/v1/score/sessions`` (create), ``.../{id}/chunks/{chunk_id}`` (append), read
the summary, delete. Thin: `service.core.score_sessions` does the work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...core.scoring import ScoreOptions
from ...core.state import ServiceState
from ...errors import InvalidInput, MethodNotAllowed, map_errors
from ..bodies import media_type, parse_json
from ..responses import JSONBody
from ..score_body import read_score_body, unsupported
from . import get_state
from .score import _BODY, _NPZ

__all__ = ["SCHEMAS", "router"]

router = APIRouter(prefix="/v1/score/sessions", tags=["scoring sessions"])


class SessionCreated(BaseModel):
    id: str = Field(description="the session's id (32 hex digits)")
    ttl_s: float = Field(description="the session expires when untouched this long")


class ChunkAck(BaseModel):
    session: str
    chunk: str
    elements: int = Field(description="array elements of the chunk's predictions")
    new: bool = Field(description="false: this chunk id had been acknowledged with the same data before")


class SessionLoss(BaseModel):
    name: str
    reduction: str
    value: float | None = Field(description="null for a mean over nothing counted yet")


class SessionSummary(BaseModel):
    """What ``/v1/score`` answers for all the chunks at once, and the session's own counts."""

    id: str
    created: float = Field(description="Unix time of the session's creation")
    losses: list[SessionLoss]
    clamped_count: int
    elements: int
    chunks: int
    per_class: list[dict[str, Any]] | None = None
    anatomy: dict[str, Any] | None = Field(
        None, description="from fixed bins of p_t: shares exact, curves exact at the bin edges"
    )
    calibration: dict[str, Any] | None = Field(None, description="ECE, MCE and the reliability bins")


_CHUNK_SCHEMA = {
    "type": "object",
    "properties": {
        "predictions": {"$ref": "#/components/schemas/Numbers"},
        "labels": {"$ref": "#/components/schemas/Numbers"},
    },
    "required": ["predictions"],
    "additionalProperties": False,
}
SCHEMAS: dict[str, dict[str, Any]] = {"ScoreChunk": _CHUNK_SCHEMA}
_MULTIPART = _BODY["requestBody"]["content"]["multipart/form-data"]["schema"]
_CHUNK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ScoreChunk"}},
            "application/x-npz": _NPZ,
            "application/octet-stream": _NPZ,
            "multipart/form-data": {
                "schema": {
                    **_MULTIPART,
                    "properties": {k: v for k, v in _MULTIPART["properties"].items() if k != "options"},
                }
            },
        },
    }
}
_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreOptions"}}},
    }
}
_NOT_FOUND = {"description": "no such session (unknown, deleted or expired)"}


@router.post(
    "",
    summary="Create a scoring session",
    status_code=201,
    openapi_extra=_CREATE_BODY,
    response_class=Response,
    responses={
        201: {"model": SessionCreated, "description": "the session; its URL in Location"},
        400: {"description": "options a session cannot take (naming the field)"},
        415: {"description": "not application/json"},
        422: {"description": "options that are not valid ScoreOptions (naming the field)"},
    },
)
async def create_session(request: Request, state: ServiceState = Depends(get_state)) -> Response:
    """A session with the options of ``/v1/score`` (``per_class`` and ``calibration_bins`` too; no
    ``per_sample``, ``gradient`` or reduction ``none``): chunks are then PUT to it, its summary read."""
    kind = media_type(request)
    if kind != "application/json":
        raise unsupported(kind)
    doc = parse_json(await request.body())
    if not isinstance(doc, dict):
        raise InvalidInput("the JSON body must be an object", field="body")
    _check_json_types(doc)
    with map_errors():
        options = ScoreOptions.model_validate(doc)
    created = await state.score_sessions.create(options)
    location = f"{request.url.path.rstrip('/')}/{created['id']}"
    return JSONBody(created, status_code=201, headers={"Location": location})


_BOOLEANS = ("from_logits", "per_sample", "gradient", "anatomy", "per_class")


def _check_json_types(doc: dict[str, Any]) -> None:
    """JSON booleans where the schema has them, and only there (pydantic's lax mode would read 0 as false
    and false as 0; its strict mode would refuse 3.0 for an integer, which JSON Schema allows)."""

    def refuse(field: str, message: str) -> InvalidInput:
        return InvalidInput(message, field=field, status=422)

    for key, value in doc.items():
        if key in _BOOLEANS and not isinstance(value, bool):
            raise refuse(key, "must be true or false")
        if key not in _BOOLEANS and isinstance(value, bool):
            raise refuse(key, "must not be a boolean")
    specs = doc.get("losses")
    for i, spec in enumerate(specs if isinstance(specs, list) else []):
        for key, value in spec.items() if isinstance(spec, dict) else ():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, bool) for v in values):
                raise refuse(f"losses[{i}].{key}", "must not be a boolean")


@router.put(
    "/{session_id}/chunks/{chunk_id}",
    summary="Append a chunk to a scoring session",
    openapi_extra=_CHUNK_BODY,
    response_class=Response,
    responses={
        200: {"model": ChunkAck, "description": "this chunk id was acknowledged before with the same data"},
        201: {"model": ChunkAck, "description": "the chunk is stored durably and counted"},
        400: {"description": "bad arrays (naming the field), or options in the body"},
        404: _NOT_FOUND,
        409: {"description": "this chunk id was acknowledged before with other data"},
        413: {"description": "more array elements than the limit"},
        415: {"description": "unsupported Content-Type"},
    },
)
async def put_chunk(
    session_id: str, chunk_id: str, request: Request, state: ServiceState = Depends(get_state)
) -> Response:
    """Score a chunk (any body ``/v1/score`` takes, without options: they are the session's) and store its
    mergeable state; the answer comes once it is durable. Sending a chunk id again is safe (counted once)."""
    await state.score_sessions.options(session_id)  # 404 before the body is read
    body = await read_score_body(request, state)
    if body.options:
        name = sorted(body.options)[0]
        raise InvalidInput("a chunk carries arrays only; its options are the session's", field=name)
    ack = await state.score_sessions.put_chunk(session_id, chunk_id, body.predictions, body.labels)
    return JSONBody(ack, status_code=201 if ack["new"] else 200)


@router.get(
    "/{session_id}",
    summary="The summary of a scoring session",
    response_model=SessionSummary,
    response_class=JSONBody,
    responses={404: _NOT_FOUND},
)
async def get_session(session_id: str, state: ServiceState = Depends(get_state)) -> Response:
    """Every loss over all chunks (as ``/v1/score`` on their concatenation), ``elements``, ``chunks``, and
    the per-class values, anatomy and calibration where the session asked for them."""
    return JSONBody(await state.score_sessions.summary(session_id))


@router.delete(
    "/{session_id}",
    summary="End a scoring session",
    status_code=204,
    response_class=Response,
    responses={404: _NOT_FOUND},
)
async def delete_session(session_id: str, state: ServiceState = Depends(get_state)) -> Response:
    await state.score_sessions.delete(session_id)
    return Response(status_code=204)


@router.api_route(
    "/{session_id}", methods=["POST", "PUT", "PATCH", "OPTIONS", "HEAD"], include_in_schema=False
)
async def other_methods(request: Request) -> Response:
    """A 405 that names both of the path's methods (Starlette's would name only the first route's)."""
    raise MethodNotAllowed(f"{request.method} is not allowed here; allowed: DELETE, GET", allow="DELETE, GET")
