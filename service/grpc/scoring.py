"""``focalserve.v1.ScoringService``: the options of ``POST /v1/score``, with arrays as packed bytes.

`array_from_proto` / `array_to_proto` convert ``focalserve.v1.Array`` (dtype name, shape, raw little-endian
bytes) with the service's one raw-array decoder (`service.core.arrays`); the arithmetic is
`service.core.scoring.score`, run in the CPU pool, so the values are exactly the `losses` package's.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
import numpy as np
import numpy.typing as npt
from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError

from .._proto import array_pb2
from .._proto import scoring_pb2 as pb
from .._proto import scoring_pb2_grpc as pb_grpc
from ..core.arrays import array_from_bytes, check_elements, check_shape
from ..core.datatypes import ARRAY_DTYPES
from ..core.scoring import ScoreOptions, ScoreResult, check_answer_size, score
from ..core.state import ServiceState
from ..errors import InvalidInput, Timeout, map_errors
from .interceptor import call_timeout
from .packed import WireError, split_arrays

__all__ = [
    "PackedScoreRequest",
    "ScoringServicer",
    "array_from_proto",
    "array_to_proto",
    "options_from_proto",
    "parse_score_request",
    "scoring_handler",
]

Context: TypeAlias = Any  # grpc.aio.ServicerContext (grpc ships no type information)

SERVICE = pb.DESCRIPTOR.services_by_name["ScoringService"].full_name
_PREDICTIONS = pb.ScoreRequest.PREDICTIONS_FIELD_NUMBER
_LABELS = pb.ScoreRequest.LABELS_FIELD_NUMBER
_SCALARS = ("alpha", "gamma", "beta", "m", "k", "base", "label_smoothing", "normalizer", "ignore_index")


def array_from_proto(
    message: array_pb2.Array, field: str, *, max_elements: int, data: memoryview | bytes | None = None
) -> npt.NDArray[Any]:
    """A read-only numpy view of a packed array; dtype, shape and size checked, errors naming ``field``.

    ``data`` replaces ``message.data`` (a zero-copy view from `service.grpc.packed.split_arrays`).
    """
    raw = message.data if data is None else data
    dtype = ARRAY_DTYPES.get(message.dtype)
    if dtype is None:
        raise InvalidInput(f"{message.dtype!r} is not one of {sorted(ARRAY_DTYPES)}", field=f"{field}.dtype")
    shape = check_shape(list(message.shape), f"{field}.shape")
    check_elements(math.prod(shape), field, max_elements)
    return array_from_bytes(raw, dtype, shape, f"{field}.data")


def array_to_proto(array: npt.ArrayLike, out: array_pb2.Array) -> None:
    """Fill ``out`` with ``array`` packed (row-major, little-endian)."""
    a = np.asarray(array)
    dtype = a.dtype.newbyteorder("<")
    out.dtype = a.dtype.name
    out.shape[:] = a.shape
    out.data = np.ascontiguousarray(a, dtype=dtype).tobytes()


def options_from_proto(request: pb.ScoreRequest) -> ScoreOptions:
    """The scoring options of a request (unset fields keep the REST API's defaults).

    Raises:
        InvalidInput: a bad value, naming ``losses[i].<param>`` or the option.
    """
    specs: list[dict[str, Any]] = []
    for i, loss in enumerate(request.losses):
        params: dict[str, Any] = {k: getattr(loss, k) for k in _SCALARS if loss.HasField(k)}
        if loss.HasField("background_class"):
            params["background_class"] = loss.background_class
        if loss.reduction:
            params["reduction"] = loss.reduction
        if loss.no_alpha:
            params["alpha"] = None
        if loss.HasField("alpha_per_class"):
            vector = array_from_proto(
                loss.alpha_per_class, f"losses[{i}].alpha_per_class", max_elements=1 << 20
            )
            params["alpha"] = vector.astype(np.float64).tolist()
        if loss.HasField("weight"):
            params["weight"] = array_from_proto(
                loss.weight, f"losses[{i}].weight", max_elements=1 << 20
            ).tolist()
        specs.append({"name": loss.name, **params})
    top: dict[str, Any] = {
        "per_sample": request.per_sample,
        "gradient": request.gradient,
        "anatomy": request.anatomy,
        "per_class": request.per_class,
    }
    if request.HasField("calibration_bins"):
        top["calibration_bins"] = request.calibration_bins
    if request.kind:
        top["kind"] = request.kind
    if request.HasField("from_logits"):
        top["from_logits"] = request.from_logits
    if specs:
        top["losses"] = specs
    with map_errors():
        return ScoreOptions.model_validate(top)


def response_of(result: ScoreResult) -> pb.ScoreResponse:
    """The packed response of a scoring result."""
    response = pb.ScoreResponse(clamped_count=result.clamped_count)
    for value in result.losses:
        out = response.losses.add(name=value.name, value=float("nan") if value.value is None else value.value)
        if value.per_sample is not None:
            array_to_proto(value.per_sample, out.per_sample)
        if value.gradient is not None:
            array_to_proto(value.gradient, out.gradient)
    if result.anatomy is not None:
        anatomy = struct_pb2.Struct()
        anatomy.update(result.anatomy)
        response.anatomy.CopyFrom(anatomy)
    if result.breakdown:
        response.breakdown.update(result.breakdown)
    return response


@dataclass(frozen=True)
class PackedScoreRequest:
    """A ``ScoreRequest`` whose arrays' data are views into the received bytes (or why parsing failed)."""

    message: pb.ScoreRequest
    data: dict[int, memoryview]
    error: str | None = None


_ARRAY_FIELDS = frozenset({pb.ScoreRequest.PREDICTIONS_FIELD_NUMBER, pb.ScoreRequest.LABELS_FIELD_NUMBER})


def parse_score_request(wire: bytes) -> PackedScoreRequest:
    """The request deserializer of Score: protobuf for the options, zero-copy views for the two arrays."""
    try:
        rest, data = split_arrays(wire, _ARRAY_FIELDS)
        return PackedScoreRequest(pb.ScoreRequest.FromString(rest), data)
    except (WireError, DecodeError) as exc:  # answered INVALID_ARGUMENT by the method, not INTERNAL by grpc
        return PackedScoreRequest(pb.ScoreRequest(), {}, f"request: not a valid ScoreRequest ({exc})")


def scoring_handler(servicer: ScoringServicer) -> Any:
    """The ``focalserve.v1.ScoringService`` handler, with the zero-copy request deserializer."""
    method = grpc.unary_unary_rpc_method_handler(
        servicer.Score,
        request_deserializer=parse_score_request,
        response_serializer=pb.ScoreResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE, {"Score": method})


class ScoringServicer(pb_grpc.ScoringServiceServicer):  # type: ignore[misc]
    """Score: predictions and labels (packed) + options -> loss values (+ per-sample, gradients, anatomy)."""

    def __init__(self, state: ServiceState) -> None:
        self._state = state

    async def Score(self, packed: PackedScoreRequest, context: Context) -> pb.ScoreResponse:
        if packed.error is not None:
            raise InvalidInput(packed.error, field="request")
        request = packed.message
        limit = self._state.settings.max_score_elements
        if not request.HasField("predictions"):
            raise InvalidInput("predictions: required", field="predictions")
        views = packed.data
        predictions = array_from_proto(
            request.predictions, "predictions", max_elements=limit, data=views.get(_PREDICTIONS, b"")
        )
        labels = None
        if request.HasField("labels"):
            labels = array_from_proto(
                request.labels, "labels", max_elements=limit, data=views.get(_LABELS, b"")
            )
        options = options_from_proto(request)
        settings = self._state.settings
        check_answer_size(  # float64 arrays: 8 bytes an element, within one message
            options,
            int(predictions.size),
            settings.grpc_max_message_bytes // 8,
            setting="grpc_max_message_bytes",
            advice="ask for fewer arrays per call, or split the predictions",
        )
        timeout_s = call_timeout(self._state, context)
        try:
            result = await asyncio.wait_for(
                self._state.in_cpu_pool(score, predictions, labels, options), timeout_s
            )
        except TimeoutError:
            raise Timeout(f"scoring did not finish within the request timeout of {timeout_s:g} s") from None
        if options.per_sample or options.gradient:  # arrays as large as the input: pack them off the loop
            return await self._state.in_cpu_pool(response_of, result)
        return response_of(result)
