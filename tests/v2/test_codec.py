"""Unit tests of the Open Inference Protocol codec: datatypes, raw/JSON tensors, binary extension, coding."""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.core.datatypes import DATATYPES, datatype_of, dtype_of
from service.errors import InvalidInput
from service.oip.codec import (
    bytes_from_raw,
    bytes_to_raw,
    tensor_from_json,
    tensor_from_raw,
    tensor_to_json,
    tensor_to_raw,
)
from service.rest.coding import choose_encoding, decode_body, encode_body
from service.rest.v2_body import join_binary_body, split_binary_body

NUMERIC = [name for name in DATATYPES if name != "BYTES"]


@pytest.mark.parametrize("datatype", NUMERIC)
def test_datatype_names_round_trip(datatype: str) -> None:
    assert datatype_of(dtype_of(datatype)) == datatype


def test_unknown_datatype_names_the_field() -> None:
    with pytest.raises(InvalidInput, match="unknown datatype 'FLOAT'") as err:
        dtype_of("FLOAT", "inputs[0].datatype")
    assert err.value.field == "inputs[0].datatype"


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    )
)
def test_raw_round_trip_keeps_dtype_shape_and_bits(array: np.ndarray) -> None:
    back = tensor_from_raw(tensor_to_raw(array), datatype_of(array.dtype), array.shape, "x")
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()


def test_raw_is_little_endian_row_major() -> None:
    a = np.array([[1, 2], [3, 4]], dtype=">i4")  # big-endian in memory
    assert tensor_to_raw(a) == struct.pack("<4i", 1, 2, 3, 4)


def test_raw_byte_count_mismatch_is_reported() -> None:
    with pytest.raises(InvalidInput, match=r"8 bytes of data for shape \[1, 3\] FP32 \(expected 12\)") as err:
        tensor_from_raw(b"\0" * 8, "FP32", [1, 3], "images")
    assert err.value.field == "images"


def test_negative_dimension_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="non-negative"):
        tensor_from_raw(b"", "FP32", [-1, 3], "images")


def test_bytes_elements_are_length_prefixed() -> None:
    raw = bytes_to_raw([b"ab", "é", b""])
    assert raw == b"\x02\0\0\0ab" + b"\x02\0\0\0\xc3\xa9" + b"\0\0\0\0"
    back = tensor_from_raw(raw, "BYTES", [3], "t")
    assert back.tolist() == [b"ab", "é".encode(), b""]


@pytest.mark.parametrize(
    ("raw", "count", "message"),
    [
        (b"\x05\0\0\0ab", 1, "claims 5 bytes"),
        (b"\x01\0", 1, "need at least 4 bytes"),
        (b"\x05\0\0\0abcde\x01\0\0", 2, "ends inside element 1"),
        (b"\x01\0\0\0ab", 1, "1 bytes left"),
    ],
)
def test_malformed_bytes_data(raw: bytes, count: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        bytes_from_raw(raw, count, "t")


def test_json_flat_and_nested_give_the_same_tensor() -> None:
    flat = tensor_from_json([1, 2, 3, 4, 5, 6], "INT64", [2, 3], "t")
    nested = tensor_from_json([[1, 2, 3], [4, 5, 6]], "INT64", [2, 3], "t")
    np.testing.assert_array_equal(flat, nested)
    assert flat.dtype == np.int64


@pytest.mark.parametrize(
    ("data", "datatype", "shape", "message"),
    [
        ([1, 2, 3], "FP32", [2, 2], "3 elements for shape"),
        ([1.5], "INT64", [1], "must be integers"),
        (["a"], "FP32", [1], "must be numbers"),
        ([True], "FP32", [1], "must be numbers"),
        ([1], "BOOL", [1], "true/false"),
        ([1], "BYTES", [1], "must be strings"),
        ([[1, 2], 3], "FP32", [3], "mixes lists and scalars"),
        ([300], "UINT8", [1], "out of range"),
    ],
)
def test_json_errors_name_the_tensor(data: object, datatype: str, shape: list[int], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        tensor_from_json(data, datatype, shape, "inputs.logits")
    assert err.value.field == "inputs.logits"


def test_json_output_is_flat_and_bytes_are_text() -> None:
    assert tensor_to_json(np.arange(6, dtype=np.float32).reshape(2, 3)) == [0, 1, 2, 3, 4, 5]
    assert tensor_to_json(np.array([b"cat", b"\xff"], dtype=object)) == ["cat", "\xff"]
    assert tensor_to_json(np.array([True, False])) == [True, False]


def test_binary_body_round_trip() -> None:
    header = {"outputs": [{"name": "a", "parameters": {"binary_data_size": 3}}]}
    body, length = join_binary_body(header, [b"xyz"])
    assert length is not None
    parsed, tail = split_binary_body(body, length)
    assert parsed == header and tail == b"xyz"
    body2, length2 = join_binary_body(header, [])
    assert length2 is None and json.loads(body2) == header


@pytest.mark.parametrize(
    ("body", "length", "message"),
    [
        (b"{}", 5, "outside the body"),
        (b"{nope", None, "not valid JSON"),
        (b"[1]", None, "must be an object"),
    ],
)
def test_binary_body_errors(body: bytes, length: int | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        split_binary_body(body, length)


@pytest.mark.parametrize(
    ("coded", "coding"),
    [
        (gzip.compress(b"hello" * 100), "gzip"),
        (zlib.compress(b"hello" * 100), "deflate"),
        (zlib.compress(b"hello" * 100)[2:-4], "deflate"),  # raw deflate stream, as some clients send
        (b"hello" * 100, None),
        (b"hello" * 100, "identity"),
    ],
)
def test_decode_body(coded: bytes, coding: str | None) -> None:
    assert decode_body(coded, coding, limit=10_000) == b"hello" * 100


@pytest.mark.parametrize(
    ("coded", "coding", "message"),
    [
        (gzip.compress(b"\0" * 100_000), "gzip", "exceeds 1000 bytes"),
        (gzip.compress(b"hello")[:-6], "gzip", "truncated"),
        (b"not gzip at all", "gzip", "corrupt"),
        (b"x", "br", "not supported"),
    ],
)
def test_decode_body_errors(coded: bytes, coding: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        decode_body(coded, coding, limit=1000)
    assert err.value.field == "Content-Encoding"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("br, deflate;q=0.5, gzip;q=0.9", "gzip"),
        ("gzip;q=0, deflate", "deflate"),
        ("identity", None),
    ],
)
def test_choose_encoding(accept: str | None, chosen: str | None) -> None:
    assert choose_encoding(accept) == chosen


@pytest.mark.parametrize("coding", ["gzip", "deflate", None])
def test_encode_then_decode(coding: str | None) -> None:
    assert decode_body(encode_body(b"payload" * 50, coding), coding, limit=1 << 20) == b"payload" * 50
