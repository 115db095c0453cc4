"""ScoreSessionService through the generated stubs, against the real service; REST reads the same sessions."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from service._proto import score_sessions_pb2 as pb
from service._proto import score_sessions_pb2_grpc, scoring_pb2, scoring_pb2_grpc
from tests.grpc.conftest import AUTH
from tests.grpc.test_services import packed

RNG = np.random.default_rng(3)
X = RNG.normal(-1, 2, (600, 4))  # float64: the one-shot answer of float32 input is rounded to float32
Y = (RNG.random((600, 4)) < 0.25).astype(np.float32)
LOSSES = [
    scoring_pb2.LossSpec(name="focal", gamma=2.0, alpha=0.25),
    scoring_pb2.LossSpec(name="cross_entropy", reduction="sum"),
]


@pytest.fixture(scope="module")
def sessions(channel: grpc.Channel) -> score_sessions_pb2_grpc.ScoreSessionServiceStub:
    return score_sessions_pb2_grpc.ScoreSessionServiceStub(channel)


def _create(sessions, **options) -> str:
    request = pb.CreateScoreSessionRequest(options=scoring_pb2.ScoreRequest(losses=LOSSES, **options))
    return sessions.CreateScoreSession(request, metadata=AUTH).id


def _append(sessions, sid: str, chunk: str, a: int, b: int) -> pb.ScoreChunkAck:
    request = pb.AppendScoreChunkRequest(
        session_id=sid, chunk_id=chunk, predictions=packed(X[a:b]), labels=packed(Y[a:b])
    )
    return sessions.AppendScoreChunk(request, metadata=AUTH)


def test_chunks_appended_over_grpc_sum_to_the_one_shot_score(sessions, channel, service) -> None:
    sid = _create(sessions, per_class=True, calibration_bins=10)
    for i, (a, b) in enumerate([(0, 100), (100, 101), (101, 600)]):
        ack = _append(sessions, sid, f"c{i}", a, b)
        assert (ack.session_id, ack.chunk_id, ack.elements, ack.new) == (sid, f"c{i}", (b - a) * 4, True)
    assert _append(sessions, sid, "c1", 100, 101).new is False  # a retry counts once
    summary = sessions.GetScoreSession(pb.ScoreSessionRef(id=sid), metadata=AUTH)
    assert (summary.chunks, summary.elements) == (3, X.size)
    one = scoring_pb2_grpc.ScoringServiceStub(channel).Score(
        scoring_pb2.ScoreRequest(
            predictions=packed(X), labels=packed(Y), losses=LOSSES, per_class=True, calibration_bins=10
        ),
        metadata=AUTH,
    )
    for got, want in zip(summary.losses, one.losses, strict=True):
        assert got.name == want.name and abs(got.value - want.value) <= 1e-12 * abs(want.value)
    ece = summary.breakdown["calibration"]["ece"]
    assert abs(ece - one.breakdown["calibration"]["ece"]) <= 1e-12 * ece
    assert len(summary.breakdown["per_class"]) == 4
    # the REST edge reads the same session
    rest = service.client.get(f"/v1/score/sessions/{sid}", headers=dict(AUTH)).json()
    assert [v["value"] for v in rest["losses"]] == [v.value for v in summary.losses]
    sessions.DeleteScoreSession(pb.ScoreSessionRef(id=sid), metadata=AUTH)
    with pytest.raises(grpc.RpcError) as err:
        sessions.GetScoreSession(pb.ScoreSessionRef(id=sid), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_errors_have_their_status_codes(sessions) -> None:
    def code(call, request) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as err:
            call(request, metadata=AUTH)
        return err.value.code()

    sid = _create(sessions)
    _append(sessions, sid, "a", 0, 10)
    conflict = pb.AppendScoreChunkRequest(
        session_id=sid, chunk_id="a", predictions=packed(X[10:20]), labels=packed(Y[10:20])
    )
    assert code(sessions.AppendScoreChunk, conflict) == grpc.StatusCode.ALREADY_EXISTS
    unknown = pb.AppendScoreChunkRequest(session_id="0" * 32, chunk_id="a", predictions=packed(X[:2]))
    assert code(sessions.AppendScoreChunk, unknown) == grpc.StatusCode.NOT_FOUND
    per_sample = pb.CreateScoreSessionRequest(options=scoring_pb2.ScoreRequest(per_sample=True))
    assert code(sessions.CreateScoreSession, per_sample) == grpc.StatusCode.INVALID_ARGUMENT
    arrays = pb.CreateScoreSessionRequest(options=scoring_pb2.ScoreRequest(predictions=packed(X[:2])))
    assert code(sessions.CreateScoreSession, arrays) == grpc.StatusCode.INVALID_ARGUMENT
    shapes = pb.AppendScoreChunkRequest(
        session_id=sid, chunk_id="b", predictions=packed(X[:3]), labels=packed(Y[:2])
    )
    assert code(sessions.AppendScoreChunk, shapes) == grpc.StatusCode.INVALID_ARGUMENT
    assert code(sessions.DeleteScoreSession, pb.ScoreSessionRef(id="nope")) == grpc.StatusCode.NOT_FOUND
    empty = sessions.GetScoreSession(pb.ScoreSessionRef(id=_create(sessions)), metadata=AUTH)
    assert empty.chunks == 0 and math.isnan(empty.losses[0].value)
