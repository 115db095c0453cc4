"""``focalserve.v1.ScoreSessionService``: scoring sessions over gRPC, over the same core as REST.

Create takes a ``ScoreRequest`` without arrays (its options, read by `scoring.options_from_proto`); Append
takes a chunk's arrays packed (zero-copy views, as Score); Get answers the merged summary; Delete ends the
session. Every error is a `ServiceError` (NOT_FOUND, INVALID_ARGUMENT, ALREADY_EXISTS for a chunk id sent
again with other data), mapped to its status code by the edge interceptor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from .._proto import score_sessions_pb2 as pb
from ..core.state import ServiceState
from ..errors import InvalidInput
from .packed import WireError, split_arrays
from .scoring import array_from_proto, options_from_proto

__all__ = ["ScoreSessionServicer", "score_sessions_handler"]

Context: TypeAlias = Any  # grpc.aio.ServicerContext

SERVICE = pb.DESCRIPTOR.services_by_name["ScoreSessionService"].full_name
_PREDICTIONS = pb.AppendScoreChunkRequest.PREDICTIONS_FIELD_NUMBER
_LABELS = pb.AppendScoreChunkRequest.LABELS_FIELD_NUMBER


@dataclass(frozen=True)
class PackedChunk:
    """An ``AppendScoreChunkRequest`` whose arrays' data are views into the received bytes."""

    message: pb.AppendScoreChunkRequest
    data: dict[int, memoryview]
    error: str | None = None


def parse_chunk(wire: bytes) -> PackedChunk:
    try:
        rest, data = split_arrays(wire, frozenset({_PREDICTIONS, _LABELS}))
        return PackedChunk(pb.AppendScoreChunkRequest.FromString(rest), data)
    except (WireError, DecodeError) as exc:
        return PackedChunk(
            pb.AppendScoreChunkRequest(), {}, f"request: not a valid AppendScoreChunkRequest ({exc})"
        )


class ScoreSessionServicer:
    def __init__(self, state: ServiceState) -> None:
        self._state = state

    async def CreateScoreSession(
        self, request: pb.CreateScoreSessionRequest, context: Context
    ) -> pb.ScoreSession:
        options = request.options
        for name in ("predictions", "labels"):
            if options.HasField(name):
                raise InvalidInput(
                    "a session's options carry no arrays: send them as chunks", field=f"options.{name}"
                )
        created = await self._state.score_sessions.create(options_from_proto(options))
        return pb.ScoreSession(id=created["id"], ttl_s=created["ttl_s"])

    async def AppendScoreChunk(self, packed: PackedChunk, context: Context) -> pb.ScoreChunkAck:
        if packed.error is not None:
            raise InvalidInput(packed.error, field="request")
        request = packed.message
        if not request.HasField("predictions"):
            raise InvalidInput("required", field="predictions")
        sessions = self._state.score_sessions
        await sessions.options(request.session_id)  # NOT_FOUND before any array is read
        limit = self._state.settings.max_score_elements
        predictions = array_from_proto(
            request.predictions, "predictions", max_elements=limit, data=packed.data.get(_PREDICTIONS, b"")
        )
        labels = None
        if request.HasField("labels"):
            labels = array_from_proto(
                request.labels, "labels", max_elements=limit, data=packed.data.get(_LABELS, b"")
            )
        ack = await sessions.put_chunk(request.session_id, request.chunk_id, predictions, labels)
        return pb.ScoreChunkAck(
            session_id=ack["session"], chunk_id=ack["chunk"], elements=ack["elements"], new=ack["new"]
        )

    async def GetScoreSession(self, request: pb.ScoreSessionRef, context: Context) -> pb.ScoreSessionSummary:
        summary = await self._state.score_sessions.summary(request.id)
        out = pb.ScoreSessionSummary(
            id=summary["id"],
            created=summary["created"],
            clamped_count=summary["clamped_count"],
            elements=summary["elements"],
            chunks=summary["chunks"],
        )
        for loss in summary["losses"]:
            value = math.nan if loss["value"] is None else loss["value"]
            out.losses.add(name=loss["name"], reduction=loss["reduction"], value=value)
        breakdown = {k: summary[k] for k in ("per_class", "anatomy", "calibration") if k in summary}
        if breakdown:
            out.breakdown.update(breakdown)
        return out

    async def DeleteScoreSession(
        self, request: pb.ScoreSessionRef, context: Context
    ) -> pb.ScoreSessionDeleted:
        await self._state.score_sessions.delete(request.id)
        return pb.ScoreSessionDeleted(id=request.id)


def score_sessions_handler(servicer: ScoreSessionServicer) -> Any:
    """The service's handler; AppendScoreChunk with the zero-copy request deserializer."""

    def unary(method: Any, request_type: Any, response_type: Any, deserializer: Any = None) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            method,
            request_deserializer=deserializer or request_type.FromString,
            response_serializer=response_type.SerializeToString,
        )

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "CreateScoreSession": unary(
                servicer.CreateScoreSession, pb.CreateScoreSessionRequest, pb.ScoreSession
            ),
            "AppendScoreChunk": unary(servicer.AppendScoreChunk, None, pb.ScoreChunkAck, parse_chunk),
            "GetScoreSession": unary(servicer.GetScoreSession, pb.ScoreSessionRef, pb.ScoreSessionSummary),
            "DeleteScoreSession": unary(
                servicer.DeleteScoreSession, pb.ScoreSessionRef, pb.ScoreSessionDeleted
            ),
        },
    )
