"""The bodies of the scoring routes: arrays (JSON, ``.npz``, multipart ``.npy``) and their options.

``/v1/score`` and a session's chunks (``PUT /v1/score/sessions/{id}/chunks/{chunk_id}``) take the same body
forms; `read_score_body` reads any of them into arrays and the options the body carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import Request
from starlette.datastructures import UploadFile

from ..core.scoring import ScoreOptions, as_array
from ..core.state import ServiceState
from ..errors import InvalidInput, UnsupportedMediaType, map_errors
from .bodies import load_npy, load_npz, media_type, parse_json

__all__ = [
    "QUERY_OPTIONS",
    "ScoreBody",
    "arrays",
    "options",
    "query_options",
    "read_json_body",
    "read_multipart",
    "read_score_body",
]

QUERY_OPTIONS = (
    "kind",
    "from_logits",
    "per_sample",
    "gradient",
    "anatomy",
    "losses",
    "per_class",
    "calibration_bins",
)


@dataclass
class ScoreBody:
    """The arrays of a score body, and the options it carried (JSON members, query, multipart part)."""

    predictions: np.ndarray
    labels: np.ndarray | None
    options: dict[str, Any] = field(default_factory=dict)


def unsupported(kind: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"Content-Type {kind or '(none)'} is not accepted here; send application/json, application/x-npz "
        "or multipart/form-data",
        field="Content-Type",
    )


async def read_score_body(request: Request, state: ServiceState) -> ScoreBody:
    """Any body form of the scoring routes, parsed off the event loop (errors name the field)."""
    kind = media_type(request)
    limit = state.settings.max_score_elements
    if kind == "application/json":
        doc, predictions_raw, labels_raw = await read_json_body(request, state)
        predictions, labels = await state.in_cpu_pool(arrays, predictions_raw, labels_raw, limit)
        return ScoreBody(predictions, labels, doc)
    if kind in ("application/x-npz", "application/octet-stream"):
        raw = await request.body()
        found = await state.in_cpu_pool(
            lambda: load_npz(raw, names=("predictions", "labels"), max_elements=limit)
        )
        return ScoreBody(found["predictions"], found["labels"], query_options(request))
    if kind == "multipart/form-data":
        return await read_multipart(request, limit)
    raise unsupported(kind)


async def read_json_body(request: Request, state: ServiceState) -> tuple[dict[str, Any], Any, Any]:
    """A JSON score body, parsed off the event loop: its options (the other members), and the raw
    ``predictions`` (required) and ``labels`` values, not yet arrays."""
    doc = await state.in_cpu_pool(parse_json, await request.body())
    if not isinstance(doc, dict):
        raise InvalidInput("the JSON body must be an object", field="body")
    if "predictions" not in doc:
        raise InvalidInput("is required", field="predictions")
    return doc, doc.pop("predictions"), doc.pop("labels", None)


def arrays(predictions: Any, labels: Any, limit: int) -> tuple[np.ndarray, np.ndarray | None]:
    x = as_array(predictions, "predictions", max_elements=limit)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    y = None if labels is None else as_array(labels, "labels", max_elements=limit)
    return x, y


def options(doc: dict[str, Any]) -> ScoreOptions:
    with map_errors():
        return ScoreOptions.model_validate(doc)


def query_options(request: Request) -> dict[str, Any]:
    q = request.query_params
    doc: dict[str, Any] = {}
    if "options" in q:
        parsed = parse_json(q["options"].encode(), field_name="options")
        if not isinstance(parsed, dict):
            raise InvalidInput("must be a JSON object", field="options")
        doc.update(parsed)
    for key in QUERY_OPTIONS:
        if key not in q:
            continue
        value = q[key]
        if key == "losses":
            doc[key] = (
                parse_json(value.encode(), field_name="losses")
                if value.lstrip().startswith("[")
                else [{"name": n.strip()} for n in value.split(",") if n.strip()]
            )
        else:
            doc[key] = value
    return doc


async def read_multipart(request: Request, limit: int) -> ScoreBody:
    form = await request.form(max_files=8, max_fields=8, max_part_size=1024 * 1024)
    try:
        parts: dict[str, bytes | str] = {}
        for key, value in form.multi_items():
            parts[key] = await value.read() if isinstance(value, UploadFile) else value
    finally:
        await form.close()
    unknown = set(parts) - {"predictions", "labels", "options"}
    if unknown:
        raise InvalidInput(f"unexpected parts {sorted(unknown)}", field=sorted(unknown)[0] or "body")
    if "predictions" not in parts:
        raise InvalidInput("the multipart body needs a .npy part named predictions", field="predictions")
    found = {}
    for name in ("predictions", "labels"):
        if name in parts:
            raw = parts[name]
            found[name] = load_npy(
                raw.encode() if isinstance(raw, str) else raw, field_name=name, max_elements=limit
            )
    doc = parse_json(parts.get("options", "{}"), field_name="options")
    if not isinstance(doc, dict):
        raise InvalidInput("must be a JSON object", field="options")
    return ScoreBody(found["predictions"], found.get("labels"), doc)
