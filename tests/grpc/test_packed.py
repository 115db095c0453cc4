"""`split_arrays` (zero-copy wire parsing of Score requests) agrees with protobuf on the messages it reads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service._proto import array_pb2, scoring_pb2
from service.grpc.packed import WireError, split_arrays
from service.grpc.scoring import parse_score_request

FIELDS = frozenset({1, 2})


def _array(data: bytes, shape: list[int], dtype: str = "uint8") -> array_pb2.Array:
    return array_pb2.Array(dtype=dtype, shape=shape, data=data)


@settings(max_examples=60, deadline=None)
@given(
    predictions=st.binary(max_size=300),
    labels=st.none() | st.binary(max_size=300),
    shape=st.lists(st.integers(0, 2**40), max_size=4),
    kind=st.sampled_from(["", "binary", "multiclass"]),
    losses=st.lists(st.sampled_from(["focal", "cross_entropy"]), max_size=3),
    gamma=st.none() | st.floats(allow_nan=False),
)
def test_split_matches_protobuf(predictions, labels, shape, kind, losses, gamma) -> None:
    request = scoring_pb2.ScoreRequest(predictions=_array(predictions, shape), kind=kind, per_sample=True)
    if labels is not None:
        request.labels.CopyFrom(_array(labels, [len(labels)], "float32"))
    for name in losses:
        spec = request.losses.add(name=name)
        if gamma is not None:
            spec.gamma = gamma
    wire = request.SerializeToString()
    rest, data = split_arrays(wire, FIELDS)
    parsed = scoring_pb2.ScoreRequest.FromString(rest)
    assert parsed.predictions.data == b"" and bytes(data.get(1, b"")) == predictions  # empty: not on the wire
    assert list(parsed.predictions.shape) == shape and parsed.predictions.dtype == "uint8"
    if labels is not None:
        assert bytes(data.get(2, b"")) == labels
    else:
        assert 2 not in data and not parsed.HasField("labels")
    expected = scoring_pb2.ScoreRequest()
    expected.CopyFrom(request)
    expected.predictions.data = b""
    expected.labels.data = b""
    if labels is None:
        expected.ClearField("labels")
    assert parsed == expected


def test_views_share_memory_with_the_received_bytes() -> None:
    payload = np.arange(1000, dtype=np.float32)
    wire = scoring_pb2.ScoreRequest(
        predictions=_array(payload.tobytes(), [1000], "float32")
    ).SerializeToString()
    _, data = split_arrays(wire, FIELDS)
    view = np.frombuffer(data[1], np.float32)
    np.testing.assert_array_equal(view, payload)
    assert view.base is not None and not view.flags.writeable


def test_a_repeated_array_field_keeps_the_last_data_as_protobuf_does() -> None:
    first = scoring_pb2.ScoreRequest(predictions=_array(b"old", [3])).SerializeToString()
    second = scoring_pb2.ScoreRequest(predictions=array_pb2.Array(data=b"newer")).SerializeToString()
    rest, data = split_arrays(first + second, FIELDS)
    assert bytes(data[1]) == scoring_pb2.ScoreRequest.FromString(first + second).predictions.data == b"newer"
    assert list(scoring_pb2.ScoreRequest.FromString(rest).predictions.shape) == [3]


@pytest.mark.parametrize(
    "wire", [b"\x0a\x05ab", b"\x0a", b"\x0b", b"\x80", b"\x0a\x03\x1a\x09abc", b"\x00\x01"]
)
def test_malformed_bytes_raise(wire: bytes) -> None:
    with pytest.raises(WireError):
        split_arrays(wire, FIELDS)


def test_the_deserializer_never_raises() -> None:
    packed = parse_score_request(b"\x0a\x05ab")
    assert packed.error is not None and "not a valid ScoreRequest" in packed.error
