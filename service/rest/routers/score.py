"""``POST /v1/score``: losses of predictions against labels; JSON, ``.npz`` or multipart ``.npy`` bodies."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from ...core.scoring import ScoreOptions, check_answer_size, score
from ...core.state import ServiceState
from ..bodies import iter_npz, load_npz, media_type
from ..responses import JSONBody
from ..score_body import arrays as to_arrays
from ..score_body import options as parse_options
from ..score_body import query_options, read_json_body, read_multipart, unsupported
from . import get_state

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["scoring"])

_EXAMPLE = {
    "predictions": [[2.0, -1.0, 0.5], [-3.0, 0.2, 1.5]],
    "labels": [[1, 0, 0], [0, 0, 1]],
    "kind": "binary",
    "from_logits": True,
    "losses": [
        {"name": "focal", "alpha": 0.25, "gamma": 2.0, "reduction": "mean"},
        {"name": "cross_entropy"},
    ],
    "per_sample": False,
    "gradient": False,
    "anatomy": False,
}


_NPZ = {
    "schema": {
        "type": "string",
        "format": "binary",
        "description": "np.savez with arrays `predictions` and `labels`; options as query parameters",
    }
}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ScoreRequest"},
                "example": _EXAMPLE,
            },
            "application/x-npz": _NPZ,
            "application/octet-stream": _NPZ,
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "predictions": {"type": "string", "format": "binary", "description": ".npy"},
                        "labels": {"type": "string", "format": "binary", "description": ".npy"},
                        "options": {
                            "type": "string",
                            "description": "a JSON ScoreOptions object",
                            "contentMediaType": "application/json",
                            "contentSchema": {"$ref": "#/components/schemas/ScoreOptions"},
                        },
                    },
                    "required": ["predictions"],
                    "additionalProperties": False,
                }
            },
        },
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the losses; an .npz with `Accept: application/x-npz`",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ScoreResult"}},
            "application/x-npz": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    400: {"description": "bad arrays or options (naming the field)"},
    406: {"description": "a JSON answer with more elements than the limit: ask for application/x-npz"},
    413: {"description": "more array elements than the limit"},
    415: {"description": "unsupported Content-Type"},
    422: {"description": "options that are not valid ScoreOptions (naming the field)"},
}


@router.post(
    "/score",
    summary="Score predictions with the loss family",
    openapi_extra=_BODY,
    responses=_RESPONSES,
    response_class=Response,
)
async def score_route(request: Request, state: ServiceState = Depends(get_state)) -> Response:
    """Compute losses (values exactly the `losses` package's) and optionally per-sample values, gradients
    with respect to the logits, and the loss anatomy of the first loss.

    Bodies: JSON (arrays inline, see the example); ``application/x-npz`` or ``application/octet-stream``
    (``np.savez`` with ``predictions`` and ``labels``), options in the query (``kind``, ``from_logits``,
    ``per_sample``, ``gradient``, ``anatomy``, ``losses`` as a JSON list or comma-separated names, or
    ``options`` as a whole JSON object); ``multipart/form-data`` with ``.npy`` parts ``predictions`` and
    ``labels`` and a JSON ``options`` part. With ``Accept: application/x-npz`` the answer is an ``.npz``:
    ``summary`` (the JSON answer without arrays) and ``losses.<i>.per_sample`` / ``losses.<i>.gradient``.
    """
    kind = media_type(request)
    limit = state.settings.max_score_elements
    want_npz = "application/x-npz" in request.headers.get("accept", "")
    json_limit = state.settings.max_json_answer_elements
    if kind in ("application/x-npz", "application/octet-stream"):
        options = parse_options(query_options(request))
        raw = await request.body()
        # one trip to the CPU pool for parse + score + answer: a large body is one event-loop wake-up
        answer = await state.in_cpu_pool(_score_npz, raw, limit, options, want_npz, json_limit)
        return _response(answer)
    if kind == "application/json":
        # the options are checked before the arrays are converted
        doc, predictions_raw, labels_raw = await read_json_body(request, state)
        options = parse_options(doc)
        predictions, labels = await state.in_cpu_pool(to_arrays, predictions_raw, labels_raw, limit)
    elif kind == "multipart/form-data":
        body = await read_multipart(request, limit)
        predictions, labels, options = body.predictions, body.labels, parse_options(body.options)
    else:
        raise unsupported(kind)
    return _response(await state.in_cpu_pool(_score, predictions, labels, options, want_npz, json_limit))


#: An answer: the arrays of a streamed ``.npz`` (``Accept: application/x-npz``), or the JSON document.
Answer = tuple[Literal["npz"], dict[str, np.ndarray]] | tuple[Literal["json"], dict[str, Any]]


def _score(
    predictions: np.ndarray,
    labels: np.ndarray | None,
    options: ScoreOptions,
    want_npz: bool,
    json_limit: int,
) -> Answer:
    """Score, then the answer; a JSON answer past ``json_limit`` array elements is refused before scoring."""
    if not want_npz:
        check_answer_size(
            options,
            int(predictions.size),
            json_limit,
            setting="max_json_answer_elements",
            advice="ask for the arrays as an .npz (Accept: application/x-npz)",
        )
    result = score(predictions, labels, options)
    return ("npz", result.npz_arrays()) if want_npz else ("json", result.to_dict())


def _score_npz(raw: bytes, limit: int, options: ScoreOptions, want_npz: bool, json_limit: int) -> Answer:
    arrays = load_npz(raw, names=("predictions", "labels"), max_elements=limit)
    return _score(arrays["predictions"], arrays["labels"], options, want_npz, json_limit)


def _response(answer: Answer) -> Response:
    if answer[0] == "npz":
        return StreamingResponse(iter_npz(answer[1]), media_type="application/x-npz")
    return JSONBody(answer[1])
