"""``POST /v1/models/{name}[/versions/{version}]/detect``: images in (multipart, raw, or JSON base64)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ...core.detection import check_detection_cap, parse_detect_options
from ...core.state import ServiceState
from ...errors import InvalidInput
from ..bodies import read_images
from ..responses import JSONBody

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


#: The query options, documented here and parsed by `_query_options`: declared as FastAPI parameters they
#: would cost event-loop time in FastAPI's per-request validation, a measurable share of detection throughput
#: (the figures: docs/benchmarks.md).
_QUERY: list[dict[str, Any]] = [
    {
        "name": "score_threshold",
        "in": "query",
        "required": False,
        "description": "Keep detections scoring at least this (the model has its own).",
        "schema": {"type": "number", "minimum": 0, "maximum": 1},
    },
    {
        "name": "max_detections",
        "in": "query",
        "required": False,
        "description": "At most this many detections per image (highest scores first); at most the "
        "model's own cap (its `max_detections`, in `/v1/models`), more is a 400.",
        "schema": {"type": "integer", "minimum": 0},
    },
]

#: One image of a multipart or raw body: the service decodes JPEG, PNG and WebP.
_IMAGE = {"type": "string", "format": "binary", "description": "a JPEG, PNG or WebP image"}
_IMAGE_TYPES = "image/jpeg, image/png, image/webp"

_BODY: dict[str, Any] = {
    "parameters": _QUERY,
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "Every file part is an image (any part name); other parts are options.",
                    "properties": {
                        "files": {"type": "array", "items": _IMAGE, "minItems": 1},
                        "score_threshold": {"type": "number", "minimum": 0, "maximum": 1},
                        "max_detections": {"type": "integer", "minimum": 0},
                    },
                    "required": ["files"],
                },
                "encoding": {"files": {"contentType": _IMAGE_TYPES}},
            },
            "image/jpeg": {"schema": _IMAGE},
            "image/png": {"schema": _IMAGE},
            "image/webp": {"schema": _IMAGE},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "images": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "format": "byte",
                                "minLength": 1,
                                "description": "a base64 image (a `data:` URL prefix is allowed)",
                            },
                            "minItems": 1,
                        },
                        "score_threshold": {
                            "type": ["number", "null"],
                            "minimum": 0,
                            "maximum": 1,
                            "description": "null: the model's own",
                        },
                        "max_detections": {
                            "type": ["integer", "null"],
                            "minimum": 0,
                            "description": "null: the model's own",
                        },
                    },
                    "required": ["images"],
                },
                "example": {"images": [EXAMPLE_PNG_B64], "score_threshold": 0.3, "max_detections": 1},
            },
        },
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DetectResponse},
    400: {"description": "bad image or option (naming the field)"},
    404: {"description": "unknown model or version"},
    413: {"description": "too many images or pixels"},
    415: {"description": "unsupported Content-Type"},
    422: {"description": "a query option out of range (naming it)"},
    500: {"description": "the model failed to run"},
    503: {"description": "queue full (Retry-After) or model not ready"},
    504: {"description": "not answered within the request timeout"},
}


def _query_options(request: Request) -> dict[str, str | None]:
    """``score_threshold`` / ``max_detections`` from the query string, checked: a bad value is a 422."""
    query = {k: request.query_params.get(k) for k in ("score_threshold", "max_detections")}
    try:
        parse_detect_options(query)
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, field=exc.field, status=422) from None
    return query


async def _detect(request: Request, name: str, version: str | None) -> JSONResponse:
    state: ServiceState = request.app.state.service
    query = _query_options(request)
    mv = state.detector(name, version)
    # before the body is read; a 400 (not 422): the cap is the model's, which the schema cannot state
    check_detection_cap(parse_detect_options(query), mv)
    body = await read_images(request, max_images=state.settings.max_images_per_request)
    options = parse_detect_options(query, body.options)  # the query wins over form fields / JSON members
    result = await state.detect(mv, body.images, body.names, options)
    return JSONBody(result.to_dict())


@router.post(
    "/models/{name}/detect",
    summary="Detect objects (default version)",
    openapi_extra=_BODY,
    responses=_RESPONSES,
    response_model=None,
)
async def detect_default(request: Request, name: str) -> JSONResponse:
    """Detect objects in one or several images with the model's highest version.

    Send images as multipart file parts (any field name), as one raw ``image/jpeg|png|webp`` body, or as
    JSON ``{"images": ["<base64>", ...]}``. ``score_threshold`` / ``max_detections`` may be query parameters,
    form fields or JSON members (the query wins).

    An image's EXIF orientation is applied before detection: boxes, width and height are in the frame a
    viewer shows, not the sensor's. Boxes under one pixel, or mostly in the letterbox padding, are dropped.
    At most ``max_images_per_request`` images, and ``max_request_pixels`` decoded pixels in all (413).
    """
    return await _detect(request, name, None)


@router.post(
    "/models/{name}/versions/{version}/detect",
    summary="Detect objects (given version)",
    openapi_extra=_BODY,
    responses=_RESPONSES,
    response_model=None,
)
async def detect_version(request: Request, name: str, version: str) -> JSONResponse:
    """Like the default-version route, for one version of the model."""
    return await _detect(request, name, version)
