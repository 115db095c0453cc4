"""The own gRPC services (Detection, Scoring) through the generated stubs, against the real service."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
from PIL import Image

import losses
from service._proto import array_pb2, detection_pb2, detection_pb2_grpc, scoring_pb2, scoring_pb2_grpc
from tests.grpc.conftest import AUTH, MESSAGE_LIMIT
from tests.grpc.live import STANDIN_BOX
from tests.service.images import encode, red_box_image


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "white" if mode != "L" else 200).save(buffer, format="PNG")
    return buffer.getvalue()


def packed(array: np.ndarray) -> array_pb2.Array:
    a = np.ascontiguousarray(array)
    return array_pb2.Array(dtype=a.dtype.name, shape=a.shape, data=a.tobytes())


def unpacked(message: array_pb2.Array) -> np.ndarray:
    return np.frombuffer(message.data, dtype=message.dtype).reshape(list(message.shape))


@pytest.fixture(scope="module")
def detection(channel: grpc.Channel) -> detection_pb2_grpc.DetectionServiceStub:
    return detection_pb2_grpc.DetectionServiceStub(channel)


@pytest.fixture(scope="module")
def scoring(channel: grpc.Channel) -> scoring_pb2_grpc.ScoringServiceStub:
    return scoring_pb2_grpc.ScoringServiceStub(channel)


#: A 128x96 image letterboxes into the stand-in's 64x64 input at s = 0.5; a red rectangle on even pixel
#: edges stays on whole input pixels (64x48 resize), so the stand-in's box maps back to exactly this one.
BIG_BOX = (20, 24, 80, 88)


def red_png(size: tuple[int, int], box: tuple[float, ...], mode: str = "RGB") -> bytes:
    return encode(red_box_image(mode, size, tuple(int(v) for v in box)))


def _xyxy(detection: detection_pb2.Detection) -> list[float]:
    return [detection.x1, detection.y1, detection.x2, detection.y2]


def test_detect_maps_boxes_back_to_each_original_image(detection) -> None:
    # The stand-in finds the red rectangle: in the 128x96 image at s = 0.5, in the 64x64 RGBA one at s = 1.
    images = [red_png((128, 96), BIG_BOX), red_png((64, 64), STANDIN_BOX, "RGBA")]
    request = detection_pb2.DetectRequest(images=images, id="req-1")
    response = detection.Detect(request, metadata=AUTH, timeout=30)
    assert (response.model, response.version, response.id) == ("detector", "1", "req-1")
    assert [(im.width, im.height) for im in response.images] == [(128, 96), (64, 64)]
    first, second = (im.detections for im in response.images)
    assert len(first) == len(second) == 1
    assert _xyxy(first[0]) == list(BIG_BOX)
    assert _xyxy(second[0]) == list(STANDIN_BOX)
    assert first[0].class_id == 0 and first[0].class_name == "blob"
    assert first[0].score == pytest.approx(0.9, abs=1e-6)


def test_an_image_without_the_object_has_no_detections(detection) -> None:
    response = detection.Detect(detection_pb2.DetectRequest(images=[png(64, 64)]), metadata=AUTH)
    assert len(response.images[0].detections) == 0


def test_detect_options_filter(detection) -> None:
    image = red_png((64, 64), STANDIN_BOX)
    plain = detection.Detect(detection_pb2.DetectRequest(images=[image]), metadata=AUTH)
    assert [_xyxy(d) for d in plain.images[0].detections] == [list(STANDIN_BOX)]  # found without options
    request = detection_pb2.DetectRequest(images=[image], score_threshold=0.95)
    assert len(detection.Detect(request, metadata=AUTH).images[0].detections) == 0
    request = detection_pb2.DetectRequest(images=[image], max_detections=0)
    assert len(detection.Detect(request, metadata=AUTH).images[0].detections) == 0


def test_detect_stream_answers_every_request_in_order(detection) -> None:
    requests = [detection_pb2.DetectRequest(images=[png(64 + i, 64)], id=str(i)) for i in range(6)]
    responses = list(detection.DetectStream(iter(requests), metadata=AUTH, timeout=60))
    assert [r.id for r in responses] == [str(i) for i in range(6)]
    assert [r.images[0].width for r in responses] == [64 + i for i in range(6)]


def test_detect_stream_answers_a_bad_message_with_its_error_and_goes_on(detection) -> None:
    requests = [
        detection_pb2.DetectRequest(images=[png(64, 64)], id="a"),
        detection_pb2.DetectRequest(images=[b"junk"], id="b"),
        detection_pb2.DetectRequest(images=[png(64, 64)], model="nope", id="c"),
        detection_pb2.DetectRequest(images=[png(64, 64)], id="d"),
    ]
    answers = list(detection.DetectStream(iter(requests), metadata=AUTH, timeout=30))
    assert [a.id for a in answers] == ["a", "b", "c", "d"]  # one response per request, in order
    assert [a.error_code for a in answers] == ["", "INVALID_ARGUMENT", "NOT_FOUND", ""]
    assert answers[1].error.startswith("images[0]: ") and not answers[1].images
    assert "'nope'" in answers[2].error
    assert len(answers[0].images) == len(answers[3].images) == 1 and not answers[3].error


@pytest.mark.parametrize(
    ("request_kwargs", "code", "needle"),
    [
        ({"images": [b"not an image"]}, grpc.StatusCode.INVALID_ARGUMENT, "images[0]"),
        ({"images": [b""]}, grpc.StatusCode.INVALID_ARGUMENT, "images[0]"),
        ({"images": []}, grpc.StatusCode.INVALID_ARGUMENT, "images"),
        ({"images": [b"x"], "model": "nope"}, grpc.StatusCode.NOT_FOUND, "'nope'"),
        ({"images": [b"x"], "version": "7"}, grpc.StatusCode.NOT_FOUND, "version"),
        ({"images": [b"x"], "score_threshold": 1.5}, grpc.StatusCode.INVALID_ARGUMENT, "score_threshold"),
        # the stand-in's cap is 1 detection per image: refused before any image is decoded
        (
            {"images": [b"x"], "max_detections": 2},
            grpc.StatusCode.INVALID_ARGUMENT,
            "max_detections: must be at most 1",
        ),
    ],
)
def test_detect_errors(detection, request_kwargs, code, needle) -> None:
    with pytest.raises(grpc.RpcError) as err:
        detection.Detect(detection_pb2.DetectRequest(**request_kwargs), metadata=AUTH, timeout=30)
    assert err.value.code() == code
    assert needle in err.value.details()


def test_score_equals_the_loss_library(scoring) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 10)).astype(np.float32)
    targets = (rng.random((64, 10)) > 0.8).astype(np.float32)
    request = scoring_pb2.ScoreRequest(
        predictions=packed(logits),
        labels=packed(targets),
        kind="binary",
        losses=[
            scoring_pb2.LossSpec(name="focal", alpha=0.5, gamma=1.5),
            scoring_pb2.LossSpec(name="cross_entropy", reduction="sum"),
            scoring_pb2.LossSpec(name="focal", no_alpha=True),
        ],
        per_sample=True,
        gradient=True,
        anatomy=True,
    )
    response = scoring.Score(request, metadata=AUTH, timeout=30)
    focal, ce, focal_no_alpha = response.losses
    assert focal.value == float(losses.focal_loss(logits, targets, alpha=0.5, gamma=1.5))
    assert ce.value == float(losses.cross_entropy(logits, targets, kind="binary", reduction="sum"))
    assert focal_no_alpha.value == float(losses.focal_loss(logits, targets, alpha=None))
    np.testing.assert_array_equal(
        unpacked(focal.per_sample), losses.focal_loss(logits, targets, alpha=0.5, gamma=1.5, reduction="none")
    )
    np.testing.assert_array_equal(
        unpacked(focal.gradient), losses.loss_gradient("focal", logits, targets, alpha=0.5, gamma=1.5)
    )
    assert unpacked(focal.gradient).shape == logits.shape
    anatomy = dict(response.anatomy)
    assert anatomy, "anatomy requested"
    assert response.clamped_count == 0


def test_score_multiclass_with_class_index_labels(scoring) -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(32, 5))
    labels = rng.integers(0, 5, size=32)
    request = scoring_pb2.ScoreRequest(
        predictions=packed(logits),
        labels=packed(labels),
        kind="multiclass",
        losses=[scoring_pb2.LossSpec(name="cross_entropy", label_smoothing=0.1)],
    )
    response = scoring.Score(request, metadata=AUTH)
    expected = losses.cross_entropy(logits, labels, kind="multiclass", label_smoothing=0.1)
    assert response.losses[0].value == float(expected)


def _score_error(scoring, **fields) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        scoring.Score(scoring_pb2.ScoreRequest(**fields), metadata=AUTH, timeout=30)
    return err.value


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        (
            {
                "predictions": packed(np.array([np.nan, 1.0], np.float32)),
                "labels": packed(np.ones(2, np.float32)),
            },
            "predictions",
        ),
        (
            {
                "predictions": packed(np.zeros((2, 3))),
                "labels": packed(np.array([0, 3])),
                "kind": "multiclass",
                "losses": [scoring_pb2.LossSpec(name="cross_entropy")],
            },
            "labels",
        ),
        ({"predictions": packed(np.zeros(3)), "labels": packed(np.zeros(4))}, "labels"),
        (
            {
                "predictions": packed(np.zeros(2)),
                "labels": packed(np.zeros(2)),
                "losses": [scoring_pb2.LossSpec(name="focal", gamma=-1.0)],
            },
            "losses[0].gamma",
        ),
        (
            {
                "predictions": packed(np.zeros(2)),
                "labels": packed(np.zeros(2)),
                "losses": [scoring_pb2.LossSpec(name="nope")],
            },
            "nope",
        ),
        ({"predictions": packed(np.zeros(2)), "labels": packed(np.zeros(2)), "kind": "ternary"}, "kind"),
        ({"predictions": array_pb2.Array(dtype="float32", shape=[3], data=b"\0" * 8)}, "predictions.data"),
        ({"predictions": array_pb2.Array(dtype="complex64", shape=[1], data=b"\0" * 8)}, "predictions.dtype"),
        ({}, "predictions"),
    ],
)
def test_score_errors_name_the_field(scoring, fields, needle) -> None:
    error = _score_error(scoring, **fields)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert needle in error.details()


def test_oversized_message_is_resource_exhausted(scoring) -> None:
    big = np.zeros(MESSAGE_LIMIT // 4 + 16, np.float32)
    error = _score_error(scoring, predictions=packed(big), labels=packed(big))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("metadata", [None, (("x-api-key", "wrong"),), (("x-api-key", ""),)])
def test_api_key_is_required(scoring, detection, metadata) -> None:
    request = scoring_pb2.ScoreRequest(predictions=packed(np.zeros(2)), labels=packed(np.zeros(2)))
    for call, message in ((scoring.Score, request), (detection.Detect, detection_pb2.DetectRequest())):
        with pytest.raises(grpc.RpcError) as err:
            call(message, metadata=metadata, timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "x-api-key" in err.value.details()
