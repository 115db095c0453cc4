"""Every request bounded in memory and time (hardening items 1-4) and the documented worst case.

The worst case of one request (docs/service-internals.md, "What one request can cost"): its body, the
images' model inputs, and one image decoding at a time in a preprocessing thread at about
`BYTES_PER_DECODED_PIXEL` bytes a pixel.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

import losses
from service import Settings
from service._proto import detection_pb2, detection_pb2_grpc, inference_v2_pb2, inference_v2_pb2_grpc
from tests.live import LiveService, run_in_thread
from tests.service.images import encode, red_box_image

from .conftest import MB, cost, metric, png_b64, problem

BYTES_PER_DECODED_PIXEL = 12  # the decoded image, its RGB array and the resize's source: with margin


def worst_case_mb(settings: Settings, body_bytes: int, input_bytes: int) -> float:
    """The documented bound of one detect request, in MiB."""
    decode = settings.max_image_pixels * BYTES_PER_DECODED_PIXEL
    return (2 * body_bytes + settings.max_images_per_request * input_bytes + decode) / MB


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


# --- 1. images per request, pixels per request
def test_thousands_of_tiny_images_in_a_small_body_are_refused_before_decoding(server: LiveService) -> None:
    body = json.dumps({"images": [png_b64()] * 5000}).encode()
    assert len(body) < 1 * MB
    pid = server.process.pid  # type: ignore[union-attr]
    spent = cost(
        pid,
        lambda: server.client.post(
            "/v1/models/standin/detect", content=body, headers={"content-type": "application/json"}
        ),
    )
    problem(spent.value, 413, "max_images_per_request")
    assert spent.value.json()["field"] == "images"
    assert spent.seconds < 2 and spent.peak_growth_mb < 64, spent


def test_every_body_form_and_grpc_have_the_same_image_limit(server: LiveService) -> None:
    limit = Settings().max_images_per_request
    tiny = encode(red_box_image(size=(1, 1), box=(0, 0, 0, 0)))
    files = [("files", (f"{i}.png", tiny, "image/png")) for i in range(limit + 1)]
    multipart = server.client.post("/v1/models/standin/detect", files=files)
    problem(multipart, 413, "max_images_per_request")
    many = [("files", (f"{i}.png", tiny, "image/png")) for i in range(limit + 50)]
    problem(server.client.post("/v1/models/standin/detect", files=many), 413, "max_images_per_request")
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = detection_pb2_grpc.DetectionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Detect(detection_pb2.DetectRequest(model="standin", images=[tiny] * (limit + 1)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.details() == f"images: {multipart.json()['detail']}"


def test_decoded_pixels_of_a_whole_request_are_bounded(repo: Path) -> None:
    image = encode(red_box_image(size=(100, 100), box=(0, 0, 0, 0)))
    with run_in_thread(repo, max_request_pixels=25_000) as service:
        two = service.client.post(
            "/v1/models/standin/detect", files=[("files", ("a.png", image)), ("files", ("b.png", image))]
        )
        one = service.client.post(
            "/v1/models/standin/detect", content=image, headers={"content-type": "image/png"}
        )
        three = service.client.post(
            "/v1/models/standin/detect", files=[("f", (f"{i}.png", image)) for i in range(3)]
        )
    assert two.status_code == 200 and one.status_code == 200
    body = problem(three, 413, "max_request_pixels")
    assert body["field"] == "f[2]"  # the image that went past the budget, named before it was decoded


# --- 2. work of a failed or abandoned request leaves the queue
def test_a_failed_chunk_takes_the_other_chunks_out_of_the_queue(failing_repo: Path) -> None:
    image = encode(red_box_image())
    files = [("files", (f"{i}.png", image, "image/png")) for i in range(16)]  # 8 chunks of 2 rows
    with run_in_thread(failing_repo, max_batch_size=2, max_queue_delay_ms=0) as service:
        r = service.client.post("/v1/models/standin/detect", files=files)
        assert r.status_code == 500 and "failed on a batch" in r.json()["detail"]
        assert r.headers["connection"] == "close"
        time.sleep(0.2)  # let a batch that had already begun end
        batches = metric(service.client, "focalserve_batch_size_count", model="standin")
        depth = metric(service.client, "focalserve_queue_depth", model="standin")
    assert depth == 0
    assert batches <= 2, f"{batches:.0f} batches ran for a request answered after the first"


def _queue_depth(service: LiveService) -> float:
    return metric(service.client, "focalserve_queue_depth", model="standin", version="1")


def _until(condition, timeout_s: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "condition never held"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_client_that_goes_away_takes_its_queued_work_with_it(repo: Path) -> None:
    image = encode(red_box_image())
    with run_in_thread(repo, max_queue_delay_ms=3000) as service:
        head = (
            "POST /v1/models/standin/versions/1/detect HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
            f"Content-Length: {len(image)}\r\n\r\n"
        ).encode()
        import socket

        sock = socket.create_connection(("127.0.0.1", service.http_port))
        sock.sendall(head + image)
        _until(lambda: _queue_depth(service) == 1)
        sock.close()
        gone = _until(lambda: _queue_depth(service) == 0)
        assert gone < 1.0, "the abandoned request stayed queued until its batch was due"
        assert metric(service.client, "focalserve_batch_size_count", model="standin") == 0
        assert metric(service.client, "focalserve_requests_total", status="499") == 1
        # a gRPC call whose deadline passes leaves too
        with grpc.insecure_channel(service.grpc_target) as channel:
            stub = detection_pb2_grpc.DetectionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Detect(detection_pb2.DetectRequest(model="standin", images=[image]), timeout=0.3)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        _until(lambda: _queue_depth(service) == 0, 1.0)


# --- 3. declared sizes checked against the bytes present before allocating
@pytest.mark.parametrize("count", [2**27, 2**33])
def test_a_bytes_tensor_cannot_declare_more_than_its_data_holds(server: LiveService, count: int) -> None:
    data = b"\x01\x00\x00\x00x" * 60  # 300 bytes: 60 one-byte elements
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "logits",
                    "shape": [count],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(data)},
                }
            ]
        }
    ).encode()
    pid = server.process.pid  # type: ignore[union-attr]
    health: list[float] = []

    def probe() -> None:  # the event loop keeps answering while the request is handled
        for _ in range(5):
            started = time.monotonic()
            httpx.get(server.http_url + "/v2/health/live", timeout=5)
            health.append(time.monotonic() - started)

    prober = threading.Thread(target=probe)
    prober.start()
    spent = cost(
        pid,
        lambda: server.client.post(
            "/v2/models/focal_loss/infer",
            content=header + data,
            headers={
                "inference-header-content-length": str(len(header)),
                "content-type": "application/octet-stream",
            },
        ),
    )
    prober.join()
    assert spent.value.status_code == 400 and "BYTES elements need at least" in spent.value.json()["error"]
    assert spent.seconds < 1 and spent.peak_growth_mb < 16, spent
    assert max(health) < 0.5
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = inference_v2_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = inference_v2_pb2.ModelInferRequest(model_name="focal_loss")
        request.inputs.add(name="logits", datatype="BYTES", shape=[count])
        request.raw_input_contents.append(data)
        with pytest.raises(grpc.RpcError) as err:
            stub.ModelInfer(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == spent.value.json()["error"]


# --- 4. answers bounded; large npz answers streamed
def test_a_json_answer_past_its_limit_is_refused_before_computing(server: LiveService) -> None:
    n = 3_000_000  # 2 arrays of 3M numbers as JSON: some 120 MB of text
    rng = np.random.default_rng(0)
    body = npz(
        predictions=rng.normal(size=n).astype(np.float32), labels=(rng.random(n) > 0.5).astype(np.float32)
    )
    pid = server.process.pid  # type: ignore[union-attr]
    url = "/v1/score?per_sample=true&gradient=true"
    spent = cost(
        pid, lambda: server.client.post(url, content=body, headers={"content-type": "application/x-npz"})
    )
    problem(spent.value, 406, "application/x-npz")
    assert spent.seconds < 2 and spent.peak_growth_mb < 3 * len(body) / MB, spent
    streamed = server.client.post(
        url, content=body, headers={"content-type": "application/x-npz", "accept": "application/x-npz"}
    )
    assert streamed.status_code == 200 and streamed.headers.get("transfer-encoding") == "chunked"
    with np.load(io.BytesIO(streamed.content)) as answer:
        arrays = np.load(io.BytesIO(body))
        expected = losses.focal_loss(arrays["predictions"], arrays["labels"], reduction="none")
        np.testing.assert_allclose(answer["losses.0.per_sample"], expected, rtol=1e-6)
        assert answer["losses.0.gradient"].shape == (n,)
        assert json.loads(str(answer["summary"]))["elements"] == n


def test_a_v2_json_answer_past_its_limit_asks_for_binary_data(repo: Path) -> None:
    logits = [0.5] * 100
    body = {
        "inputs": [
            {"name": n, "shape": [100], "datatype": "FP32", "data": logits} for n in ("logits", "targets")
        ],
        "parameters": {"reduction": "none"},
    }
    with run_in_thread(repo, max_json_answer_elements=50) as service:
        refused = service.client.post("/v2/models/focal_loss/infer", json=body)
        binary = service.client.post(
            "/v2/models/focal_loss/infer",
            json={**body, "parameters": {"reduction": "none", "binary_data_output": True}},
        )
    assert refused.status_code == 406 and "binary_data_output" in refused.json()["error"]
    assert binary.status_code == 200 and "inference-header-content-length" in binary.headers


# --- the documented worst case: a request under 1 MB stays within it
def test_a_request_under_one_megabyte_stays_within_the_documented_bound(server: LiveService) -> None:
    settings = Settings()
    side = int(np.sqrt(settings.max_image_pixels)) - 1  # the largest image allowed, nearly all one colour
    image = encode(red_box_image(size=(side, side), box=(10, 10, 400, 400)), optimize=True)
    assert len(image) < 1 * MB
    pid = server.process.pid  # type: ignore[union-attr]
    spent = cost(
        pid,
        lambda: server.client.post(
            "/v1/models/standin/detect", content=image, headers={"content-type": "image/png"}, timeout=60
        ),
    )
    assert spent.value.status_code == 200, spent.value.text
    bound = worst_case_mb(settings, len(image), 3 * 64 * 64 * 4)
    assert spent.peak_growth_mb <= bound, f"{spent.peak_growth_mb:.0f} MiB over the bound of {bound:.0f} MiB"
    assert bound < 1024, "the documented worst case of one request is under a gigabyte"
