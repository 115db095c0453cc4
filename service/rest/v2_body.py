"""Open Inference Protocol request and response documents over HTTP, with the binary tensor data extension.

Request: a JSON object ``{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data"? ,
"parameters"?: {"binary_data_size"?}}], "outputs"?: [{"name", "parameters"?: {"binary_data"?}}]}``. Tensor
data is JSON (flat or nested ``data``) or, with the binary tensor data extension, raw bytes after the JSON
header (``Inference-Header-Content-Length`` says where the header ends; each binary input gives its
``binary_data_size``, in input order).

Response: ``{"model_name", "model_version", "id"?, "outputs": [{"name", "datatype", "shape", "data" |
"parameters": {"binary_data_size"}}]}``; an output is binary when it asks ``binary_data: true`` or the request
says ``binary_data_output: true`` (and the output does not say false).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from ..core.datatypes import datatype_of
from ..errors import AnswerTooLarge, InvalidInput
from ..oip.codec import tensor_from_json, tensor_from_raw, tensor_to_json, tensor_to_raw
from .bodies import parse_json
from .coding import decode_body

__all__ = [
    "Decoded",
    "decode_body_and_request",
    "decode_request",
    "encode_response",
    "join_binary_body",
    "split_binary_body",
]


def split_binary_body(body: bytes, header_length: int | None) -> tuple[dict[str, Any], memoryview]:
    """Split a request body into its JSON header and the binary tail (a zero-copy view; empty without the
    extension)."""
    if header_length is None:
        head: bytes = body
        tail = memoryview(b"")
    else:
        if header_length < 0 or header_length > len(body):
            raise InvalidInput(
                f"Inference-Header-Content-Length: {header_length} is outside the body's {len(body)} bytes",
                field="Inference-Header-Content-Length",
            )
        view = memoryview(body)
        head, tail = view[:header_length].tobytes(), view[header_length:]  # the header is small
    header = parse_json(head, field_name="body")
    if not isinstance(header, dict):
        raise InvalidInput("body: the JSON header must be an object", field="body")
    return header, tail


def join_binary_body(header: Mapping[str, Any], blobs: Sequence[bytes]) -> tuple[bytes, int | None]:
    """A response body: the JSON header, then each binary blob; returns ``(body, header_length or None)``."""
    head = orjson.dumps(header)
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)


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
    header: dict[str, Any], tail: bytes | memoryview, *, check_bools: bool = True
) -> tuple[dict[str, Any], dict[str, Any], list[str], set[str]]:
    """Inputs, parameters, requested outputs and outputs wanted binary, from a parsed request
    (``check_bools=False``: the document holds no ``true`` / ``false``, see `tensor_from_json`).

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
            inputs[name] = tensor_from_json(spec["data"], datatype, shape, field, check_bools=check_bools)
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
        if flag is not None and not isinstance(flag, bool):
            raise InvalidInput("must be true or false", field=f"outputs.{name}.parameters.binary_data")
        if flag is True or (flag is None and all_binary):
            binary.add(name)
    if not requested and all_binary:
        binary.add("*")
    return inputs, parameters, requested, binary


def encode_response(
    model: str,
    version: str,
    request_id: Any,
    outputs: dict[str, Any],
    binary: set[str],
    json_limit: int | None = None,
) -> tuple[bytes, int | None]:
    """The response body (JSON header + binary outputs) and its header length (None when all JSON).

    Outputs answered as JSON may hold at most ``json_limit`` elements in all (`AnswerTooLarge` beyond, with
    the advice to ask for binary data).
    """
    as_json = sum(a.size for name, a in outputs.items() if name not in binary and "*" not in binary)
    if json_limit is not None and as_json > json_limit:
        raise AnswerTooLarge(
            f"the outputs would put {as_json} elements in JSON, more than the limit of {json_limit} "
            '(max_json_answer_elements); ask for binary data ("parameters": {"binary_data_output": true})',
            field="outputs",
        )
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


#: What `decode_body_and_request` finds: the JSON header, inputs, parameters, requested and binary outputs.
Decoded = tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str], set[str]]


def decode_body_and_request(
    body: bytes, content_encoding: str | None, header_length: int | None, max_bytes: int
) -> Decoded:
    """A whole infer request, from the bytes received: content coding undone, the JSON header parsed
    (orjson), the tensors decoded (numpy). Pure CPU work: large bodies run it off the event loop."""
    body = decode_body(body, content_encoding, max_bytes)
    header, tail = split_binary_body(body, header_length)
    head = body if header_length is None else body[:header_length]
    return (header, *decode_request(header, tail, check_bools=_may_hold_bools(head)))


def _may_hold_bools(text: bytes) -> bool:
    """Whether the JSON text has a ``true`` or ``false`` anywhere (numbers hold no ``t`` or ``f``: a
    vectorised search finds the few letters of the keys, which are then read)."""
    letters = np.frombuffer(text, dtype=np.uint8)
    where = np.flatnonzero((letters == ord("t")) | (letters == ord("f")))
    if len(where) > 256:  # text other than numbers (strings, BYTES data): the exact search then
        return True
    return any(text.startswith(b"true", i) or text.startswith(b"false", i) for i in where.tolist())
