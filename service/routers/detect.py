"""``POST /v1/models/{name}[/versions/{version}]/detect``: images in (multipart, raw, or JSON base64)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..bodies import read_images
from ..detection import detect, parse_detect_options
from ..responses import JSONBody
from ..state import ServiceState
from . import get_state

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["detection"])

#: A 64x64 grey PNG with a red disc: a working example for the docs.
EXAMPLE_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAIAAAAlC+aJAAAA2klEQVR42u2ZyxHDIAxEHQ0FupKcqSOVuMTcYx8y0grQ8HT0Z9knyRjsV+/9"
    "qBx2FA8AAAAAAAAAAAAAAACYFy1J931d94Of81wd4NH3/ayQpI2x/nixBMPGuw/eJa5A0ES8FDbRvURn4/eAKv1BNVvBfURzyxbKSL9bmcVc"
    "OYC8/vHp00IAAABAMYCMfW1EnxaqCJDXRQ7lXVsoowg+TRs8nlxt71lIVYSITpOM7d4kxFNgE1MoKWDTPoV/lmLFr9M/zqr+Hxi25mMaBQAA"
    "AAAAAAAAAABggfgC3DhFKr1/+8cAAAAASUVORK5CYII="
)


class ImageDetections(BaseModel):
    width: int
    height: int
    boxes: list[list[float]]
    scores: list[float]
    class_ids: list[int]
    class_names: list[str]


class Timings(BaseModel):
    preprocess_ms: float
    queue_ms: float
    inference_ms: float
    batch_size: int


class DetectResponse(BaseModel):
    """Per image (in request order): boxes ``[x1, y1, x2, y2]`` in original pixels, scores, classes."""

    model_name: str
    model_version: str
    images: list[ImageDetections]
    timings: Timings


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "score_threshold": {"type": "number"},
                        "max_detections": {"type": "integer"},
                    },
                    "required": ["files"],
                }
            },
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/webp": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "images": {"type": "array", "items": {"type": "string", "format": "byte"}},
                        "score_threshold": {"type": "number", "minimum": 0, "maximum": 1},
                        "max_detections": {"type": "integer", "minimum": 0},
                    },
                    "required": ["images"],
                },
                "example": {"images": [EXAMPLE_PNG_B64], "score_threshold": 0.3, "max_detections": 10},
            },
        },
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DetectResponse},
    400: {"description": "bad image or option (problem+json naming the field)"},
    404: {"description": "unknown model or version"},
    413: {"description": "body or image too large"},
    415: {"description": "unsupported Content-Type"},
    503: {"description": "queue full (Retry-After) or model not ready"},
    504: {"description": "not answered within the request timeout"},
}


async def _detect(
    request: Request,
    state: ServiceState,
    name: str,
    version: str | None,
    score_threshold: float | None,
    max_detections: int | None,
) -> JSONResponse:
    mv = state.detector(name, version)
    body = await read_images(request)
    options = parse_detect_options(
        {"score_threshold": score_threshold, "max_detections": max_detections}, body.options
    )
    result = await detect(state, mv, body.images, body.names, options)
    return JSONBody(result.to_dict())


_THRESHOLD = Query(
    None, ge=0, le=1, description="Keep detections scoring at least this (the model has its own)."
)
_MAX = Query(None, ge=0, description="At most this many detections per image (highest scores first).")


@router.post(
    "/models/{name}/detect",
    summary="Detect objects (default version)",
    openapi_extra=_BODY,
    responses=_RESPONSES,
    response_model=None,
)
async def detect_default(
    request: Request,
    name: str,
    score_threshold: float | None = _THRESHOLD,
    max_detections: int | None = _MAX,
    state: ServiceState = Depends(get_state),
) -> JSONResponse:
    """Detect objects in one or several images with the model's highest version.

    Send images as multipart file parts (any field name), as one raw ``image/jpeg|png|webp`` body, or as
    JSON ``{"images": ["<base64>", ...]}``. ``score_threshold`` / ``max_detections`` may also be form fields
    or JSON members.
    """
    return await _detect(request, state, name, None, score_threshold, max_detections)


@router.post(
    "/models/{name}/versions/{version}/detect",
    summary="Detect objects (given version)",
    openapi_extra=_BODY,
    responses=_RESPONSES,
    response_model=None,
)
async def detect_version(
    request: Request,
    name: str,
    version: str,
    score_threshold: float | None = _THRESHOLD,
    max_detections: int | None = _MAX,
    state: ServiceState = Depends(get_state),
) -> JSONResponse:
    """Like the default-version route, for one version of the model."""
    return await _detect(request, state, name, version, score_threshold, max_detections)
