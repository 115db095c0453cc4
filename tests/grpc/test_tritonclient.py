"""NVIDIA's tritonclient (gRPC and HTTP) against the running service, as an Open Inference Protocol client.

The client runs in its own process (see triton_client.py); this process checks its answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import losses
from tests.grpc.conftest import API_KEY
from tests.grpc.live import CLIENT_BOXES, LiveService, client_arrays, run_client

SCRIPT = Path(__file__).with_name("triton_client.py")


@pytest.fixture(scope="module")
def answers(service: LiveService) -> dict[str, object]:
    answer: dict[str, object] = run_client(SCRIPT, service.grpc_target, service.http_url, API_KEY)
    return answer


def test_the_client_process_loads_none_of_the_service_modules(answers) -> None:
    assert answers["service_modules"] == []


def test_health_and_metadata(answers) -> None:
    assert answers["grpc_live"] is answers["grpc_ready"] is answers["grpc_model_ready"] is True
    assert answers["http_live"] is answers["http_ready"] is True
    assert "binary_tensor_data" in answers["grpc_server_metadata"]["extensions"]
    grpc_meta, http_meta = answers["grpc_model_metadata"], answers["http_model_metadata"]
    assert grpc_meta["platform"] == http_meta["platform"] == "onnxruntime_onnx"
    assert [t["name"] for t in http_meta["outputs"]] == ["boxes", "scores", "labels", "num_detections"]
    assert (
        [int(d) for d in grpc_meta["inputs"][0]["shape"]]
        == http_meta["inputs"][0]["shape"]
        == [-1, 3, 64, 64]
    )
    assert [t["name"] for t in answers["grpc_loss_metadata"]["inputs"]] == ["logits", "targets"]


def test_detector_inference_grpc_and_http_binary_and_json(answers) -> None:
    # the stand-in finds the red rectangle drawn in each image, exactly
    expected = np.array(CLIENT_BOXES, np.float32)[:, None, :]
    grpc_out = answers["grpc_detector"]
    np.testing.assert_array_equal(grpc_out["boxes"], expected)
    assert grpc_out["num_detections"] == [1, 1] and grpc_out["labels"] == [[0], [0]]
    np.testing.assert_array_equal(grpc_out["scores"], np.full((2, 1), 0.9, np.float32))
    for binary in (True, False):
        http_out = answers[f"http_detector_binary_{binary}"]
        np.testing.assert_array_equal(http_out["boxes"], expected)
        assert http_out["num_detections"] == [1, 1]


def test_focal_loss_model_equals_the_loss_library(answers) -> None:
    _, logits, targets = client_arrays()
    expected = float(losses.focal_loss(logits, targets, alpha=0.25, gamma=2.0))
    assert answers["grpc_focal"] == [expected]
    assert answers["http_focal_gzip"] == [expected]


def test_errors_reach_tritonclient_as_status_codes(answers) -> None:
    status, message = answers["grpc_unknown"]
    assert status == "StatusCode.NOT_FOUND" and "no_such_model" in message
    assert answers["grpc_no_key"] == "StatusCode.UNAUTHENTICATED"


def test_the_committed_detector_runs_through_tritonclient(answers) -> None:
    if "grpc_real" not in answers:
        pytest.skip("models/detector is not committed yet")
    meta, shapes = answers["grpc_real"]["metadata"], answers["grpc_real"]["shapes"]
    assert [t["name"] for t in meta["outputs"]] == ["boxes", "scores", "labels", "num_detections"]
    detections = shapes["scores"][1]
    assert shapes == {
        "boxes": [2, detections, 4],
        "scores": [2, detections],
        "labels": [2, detections],
        "num_detections": [2],
    }


def test_model_configuration_through_both_clients(answers) -> None:
    grpc_config = answers["grpc_config_detector"]["config"]  # ModelConfigResponse as JSON
    http_config = answers["http_config_detector"]
    for config in (grpc_config, http_config):
        assert config["name"] == "detector" and config["platform"] == "onnxruntime_onnx"
        assert config["backend"] == "onnxruntime" and config["max_batch_size"] == 8
        (images,) = config["input"]
        assert images["name"] == "images" and images["data_type"] == "TYPE_FP32"
        assert [int(d) for d in images["dims"]] == [3, 64, 64]
        assert [o["name"] for o in config["output"]] == ["boxes", "scores", "labels", "num_detections"]
        assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == 5000
        assert config["instance_group"][0]["kind"] == "KIND_CPU"
    assert http_config["input"][0]["dims"] == [3, 64, 64]  # REST: numbers, as Triton writes them
    for config in (answers["grpc_config_focal_loss"]["config"], answers["http_config_focal_loss"]):
        assert config["platform"] == "focalserve_losses" and config.get("max_batch_size", 0) == 0
        assert [t["name"] for t in config["input"]] == ["logits", "targets"]
        assert "dynamic_batching" not in config


def _numbers(entry: dict[str, Any]) -> dict[str, Any]:
    """A model_stats entry with the gRPC JSON's uint64 strings as ints and its omitted zeros filled in."""

    def duration(d: dict[str, Any]) -> tuple[int, int]:
        return int(d.get("count", 0)), int(d.get("ns", 0))

    stats = entry.get("inference_stats", {})
    return {
        "name": entry["name"],
        "version": entry["version"],
        **{k: int(entry.get(k, 0)) for k in ("last_inference", "inference_count", "execution_count")},
        "inference_stats": {
            k: duration(stats.get(k, {}))
            for k in ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")
        },
        "batch_stats": {
            int(b["batch_size"]): {k: duration(b.get(k, {})) for k in ("compute_input", "compute_infer")}
            for b in entry.get("batch_stats", [])
        },
    }


def test_inference_statistics_count_what_the_clients_sent(answers) -> None:
    (before,) = [_numbers(e) for e in answers["grpc_stats_before"]["model_stats"]]
    (after,) = [_numbers(e) for e in answers["grpc_stats_after"]["model_stats"]]
    (http_after,) = [_numbers(e) for e in answers["http_stats_after"]["model_stats"]]
    assert after == http_after  # both edges read the same numbers
    assert after["name"] == "detector" and after["version"] == "1"
    assert after["inference_count"] - before["inference_count"] == 1 + 2 + 2 + 2  # rows
    success, old = after["inference_stats"]["success"], before["inference_stats"]["success"]
    assert success[0] - old[0] == 4 and success[1] > old[1]
    for stage in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert after["inference_stats"][stage][0] == success[0], stage
        assert after["inference_stats"][stage][1] > 0, stage
    assert after["execution_count"] - before["execution_count"] == 4  # sent one after the other
    batches = after["batch_stats"]
    assert {1, 2} <= set(batches) and all(b["compute_infer"][1] > 0 for b in batches.values())
    listed = {(e["name"], e["version"]) for e in answers["http_stats_all"]["model_stats"]}
    assert {("detector", "1"), ("focal_loss", "1")} <= listed
    assert {"model_configuration", "statistics"} <= set(answers["grpc_server_extensions"])


def test_a_stream_answers_each_request_and_the_bad_one_with_its_error(answers) -> None:
    stream = answers["grpc_stream"]
    assert len(stream) == 5
    errors = [a["error"] for a in stream if "error" in a]
    assert len(errors) == 1 and "nope" in errors[0]
    _, logits, targets = client_arrays()
    expected = [float(losses.focal_loss(logits, targets, gamma=2.0))]
    assert sorted(a["id"] for a in stream if "id" in a) == ["0", "1", "3", "4"]
    assert all(a["loss"] == expected for a in stream if "id" in a)
