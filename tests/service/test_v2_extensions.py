"""The model configuration and statistics extensions over REST, on the real service: the JSON documents in
Triton's shapes, the counts against what was sent, the stage histograms of /metrics beside them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Live, run_service
from .images import encode, red_box_image
from .standin import red_box_tensor, write_repository

STAGES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A service of its own (no other test's requests in its statistics), 2 instances, 4 ms queue delay."""
    repo = write_repository(tmp_path_factory.mktemp("extensions-repo"), versions=(1, 2))
    with run_service(repo, max_queue_delay_ms=4, model_instances=2) as service:
        yield service


def infer_body(rows: int) -> dict[str, Any]:
    images = red_box_tensor([(10.0, 12.0, 40.0, 44.0)] * rows, seed=rows)
    tensor = {
        "name": "images",
        "shape": list(images.shape),
        "datatype": "FP32",
        "data": images.ravel().tolist(),
    }
    return {"inputs": [tensor]}


def loss_body() -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "logits", "shape": [2, 2], "datatype": "FP32", "data": [2.0, -1.0, 0.5, -3.0]},
            {"name": "targets", "shape": [2, 2], "datatype": "FP32", "data": [1, 0, 0, 0]},
        ]
    }


def one(stats: dict[str, Any]) -> dict[str, Any]:
    (entry,) = stats["model_stats"]
    return entry  # type: ignore[no-any-return]


def test_the_configuration_of_a_repository_model(fresh: Live) -> None:
    config = fresh.client.get("/v2/models/standin/config").json()
    assert {k: config[k] for k in ("name", "platform", "backend", "max_batch_size")} == {
        "name": "standin",
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "max_batch_size": 8,  # config.pbtxt's 8 caps the setting's 16
    }
    assert config["version_policy"] == {"all": {}}  # the stand-in's config.pbtxt
    (images,) = config["input"]
    assert images == {
        "name": "images",
        "data_type": "TYPE_FP32",
        "format": "FORMAT_NONE",
        "dims": [3, 64, 64],  # no batch dimension: max_batch_size > 0
        "is_shape_tensor": False,
        "allow_ragged_batch": False,
        "optional": False,
    }
    outputs = {o["name"]: (o["data_type"], o["dims"]) for o in config["output"]}
    assert outputs == {
        "boxes": ("TYPE_FP32", [1, 4]),
        "scores": ("TYPE_FP32", [1]),
        "labels": ("TYPE_INT64", [1]),
        "num_detections": ("TYPE_INT64", []),
    }
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 4000
    assert config["instance_group"] == [{"name": "standin_0", "kind": "KIND_CPU", "count": 2, "gpus": []}]
    assert config["default_model_filename"] == "model.onnx"
    assert fresh.client.get("/v2/models/standin/versions/1/config").json()["name"] == "standin"


def test_the_configuration_of_a_loss_model(fresh: Live) -> None:
    config = fresh.client.get("/v2/models/focal_loss/versions/1/config").json()
    assert config["platform"] == "focalserve_losses" and config["max_batch_size"] == 0
    assert [(t["name"], t["dims"]) for t in config["input"]] == [("logits", [-1]), ("targets", [-1])]
    assert [(t["name"], t["data_type"]) for t in config["output"]] == [("loss", "TYPE_FP64")]
    assert "dynamic_batching" not in config
    assert config["instance_group"][0]["kind"] == "KIND_CPU"


def test_unknown_models_and_versions_are_404_errors(fresh: Live) -> None:
    c = fresh.client
    for path in (
        "/v2/models/nope/config",
        "/v2/models/standin/versions/9/config",
        "/v2/models/nope/stats",
        "/v2/models/standin/versions/9/stats",
        "/v2/models/focal_loss/versions/2/stats",
    ):
        r = c.get(path)
        assert r.status_code == 404 and set(r.json()) == {"error"}, path


def test_statistics_count_what_was_sent(fresh: Live) -> None:
    c = fresh.client
    before_ms = time.time_ns() // 1_000_000
    sent = [1, 2, 3, 1]
    for rows in sent:
        assert c.post("/v2/models/standin/versions/1/infer", json=infer_body(rows)).status_code == 200
    bad = {"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
    assert c.post("/v2/models/standin/versions/1/infer", json=bad).status_code == 400
    after_ms = time.time_ns() // 1_000_000
    entry = one(c.get("/v2/models/standin/versions/1/stats").json())
    assert entry["name"] == "standin" and entry["version"] == "1"
    assert before_ms <= entry["last_inference"] <= after_ms
    assert entry["inference_count"] == sum(sent)
    stats = entry["inference_stats"]
    assert set(stats) == {*STAGES, "cache_hit", "cache_miss"}
    for stage in ("success", "queue", "compute_input", "compute_infer", "compute_output"):
        assert stats[stage]["count"] == len(sent), stage
        assert stats[stage]["ns"] > 0, stage
    assert stats["queue"]["ns"] >= len(sent) * 4_000_000 * 0.9  # each waited out the 4 ms delay alone
    assert stats["fail"]["count"] == 1
    # one batch per request (sent one after the other); the compute stages sum to less than the requests
    assert entry["execution_count"] == len(sent)
    batches = {b["batch_size"]: b for b in entry["batch_stats"]}
    assert sorted(batches) == [1, 2, 3] and batches[1]["compute_infer"]["count"] == 2
    assert sum(b["batch_size"] * b["compute_infer"]["count"] for b in batches.values()) == sum(sent)
    compute = sum(stats[s]["ns"] for s in ("queue", "compute_input", "compute_infer", "compute_output"))
    assert compute <= stats["success"]["ns"]
    assert entry["memory_usage"] == []


def test_a_detect_request_counts_in_its_version(fresh: Live) -> None:
    c = fresh.client
    served = one(c.get("/v2/models/standin/versions/2/stats").json())["inference_count"]
    png = encode(red_box_image())
    r = c.post("/v1/models/standin/detect", content=png, headers={"content-type": "image/png"})
    assert r.status_code == 200
    assert one(c.get("/v2/models/standin/versions/2/stats").json())["inference_count"] == served + 1


def test_loss_models_count_each_call_as_one_execution(fresh: Live) -> None:
    c = fresh.client
    for _ in range(3):
        assert c.post("/v2/models/focal_loss/infer", json=loss_body()).status_code == 200
    body = loss_body()
    del body["inputs"][1]  # no targets
    assert c.post("/v2/models/focal_loss/infer", json=body).status_code == 400
    entry = one(c.get("/v2/models/focal_loss/stats").json())
    assert entry["version"] == "1" and entry["inference_count"] == entry["execution_count"] == 3
    stats = entry["inference_stats"]
    assert stats["success"]["count"] == 3 and stats["fail"]["count"] == 1
    assert stats["compute_infer"]["count"] == 3 and stats["compute_infer"]["ns"] > 0
    (batch,) = entry["batch_stats"]
    assert batch["batch_size"] == 1 and batch["compute_infer"]["count"] == 3


def test_all_statistics_list_every_ready_version_of_every_model(fresh: Live) -> None:
    listed = [(e["name"], e["version"]) for e in fresh.client.get("/v2/models/stats").json()["model_stats"]]
    assert listed[:2] == [("standin", "1"), ("standin", "2")]
    assert ("focal_loss", "1") in listed and ("entropy", "1") in listed
    assert len(listed) == len(set(listed))
    assert [e["version"] for e in fresh.client.get("/v2/models/standin/stats").json()["model_stats"]] == [
        "1",
        "2",
    ]


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels}")


def test_the_stage_histograms_count_the_same_batches(fresh: Live) -> None:
    c = fresh.client
    assert c.post("/v2/models/standin/versions/1/infer", json=infer_body(2)).status_code == 200
    assert c.post("/v2/models/focal_loss/infer", json=loss_body()).status_code == 200
    text = c.get("/metrics").text
    for model, version in (("standin", "1"), ("focal_loss", "1")):
        entry = one(c.get(f"/v2/models/{model}/versions/{version}/stats").json())
        labels = {"model": model, "version": version}
        for histogram in (
            "focalserve_compute_input_duration_seconds_count",
            "focalserve_inference_duration_seconds_count",
            "focalserve_compute_output_duration_seconds_count",
            "focalserve_batch_size_count",
        ):
            assert metric(text, histogram, **labels) == entry["execution_count"], (histogram, model)
        assert (
            metric(text, "focalserve_queue_duration_seconds_count", **labels)
            == (entry["inference_stats"]["success"]["count"])
        )
        # the same timings: the batches' model calls (each request of a batch is charged the whole call)
        infer_ns = sum(b["compute_infer"]["ns"] for b in entry["batch_stats"])
        infer_s = metric(text, "focalserve_inference_duration_seconds_sum", **labels)
        assert infer_s == pytest.approx(infer_ns / 1e9, abs=1e-6)
        assert metric(text, "focalserve_pending_requests", **labels) == 0


def test_a_failed_batch_counts_as_failures_and_no_execution(failing_repo: Path) -> None:
    with run_service(failing_repo) as service:
        c = service.client
        assert c.post("/v2/models/standin/infer", json=infer_body(2)).status_code == 500
        assert c.post("/v2/models/standin/infer", json=infer_body(1)).status_code == 200
        entry = one(c.get("/v2/models/standin/stats").json())
    stats = entry["inference_stats"]
    assert stats["fail"]["count"] == 1 and stats["success"]["count"] == 1
    assert entry["execution_count"] == 1 and [b["batch_size"] for b in entry["batch_stats"]] == [1]
    assert entry["inference_count"] == 1


def test_statistics_of_a_model_that_never_ran_are_zeros(fresh: Live) -> None:
    entry = one(fresh.client.get("/v2/models/kl_divergence/versions/1/stats").json())
    assert entry["inference_count"] == entry["execution_count"] == entry["last_inference"] == 0
    assert all(v == {"count": 0, "ns": 0} for v in entry["inference_stats"].values())
    assert entry["batch_stats"] == []
