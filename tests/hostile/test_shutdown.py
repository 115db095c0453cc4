"""Shutdown keeps its promise: accepted work finishes within one grace budget (hardening item 16)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np

from service._proto import detection_pb2, detection_pb2_grpc
from tests.live import run_in_thread
from tests.service.images import encode, red_box_image
from tests.service.standin import red_box_tensor

from .conftest import metric


def _until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_v2_infer_accepted_before_the_drain_is_answered(repo: Path) -> None:
    tensor = red_box_tensor([(10, 12, 40, 44)])
    body = {
        "inputs": [
            {
                "name": "images",
                "shape": list(tensor.shape),
                "datatype": "FP32",
                "data": tensor.ravel().tolist(),
            }
        ]
    }
    answers: list[httpx.Response] = []
    with run_in_thread(repo, max_queue_delay_ms=1500, shutdown_grace_s=10) as service:
        url = service.http_url + "/v2/models/standin/infer"
        sender = threading.Thread(target=lambda: answers.append(httpx.post(url, json=body, timeout=30)))
        sender.start()
        _until(lambda: metric(service.client, "focalserve_queue_depth", model="standin", version="1") == 1)
        service.runtime.shutdown()
        _until(lambda: service.state.draining)
        late = httpx.post(url, json=body, timeout=10)
        sender.join(30)
    assert late.status_code == 503  # new work is refused...
    assert answers and answers[0].status_code == 200, (
        answers[0].text if answers else "no answer"
    )  # ...accepted work is not
    boxes = np.asarray(next(o for o in answers[0].json()["outputs"] if o["name"] == "boxes")["data"])
    assert boxes.reshape(-1, 4)[0].tolist() == [10, 12, 40, 44]


def test_a_stream_open_at_the_drain_gets_every_answer(repo: Path) -> None:
    image = encode(red_box_image())
    drained = threading.Event()

    def requests() -> Iterator[detection_pb2.DetectRequest]:
        for i in range(15):
            if i == 5:
                drained.wait(10)  # the drain has begun before the last ten are sent
            yield detection_pb2.DetectRequest(model="standin", images=[image], id=str(i))
            time.sleep(0.02)

    answers = []
    with (
        run_in_thread(repo, shutdown_grace_s=10) as service,
        grpc.insecure_channel(service.grpc_target) as ch,
    ):
        stub = detection_pb2_grpc.DetectionServiceStub(ch)
        for answer in stub.DetectStream(requests(), timeout=30):
            answers.append(answer)
            if len(answers) == 5:
                service.runtime.shutdown()
                _until(lambda: service.state.draining)
                drained.set()
    assert [a.id for a in answers] == [str(i) for i in range(15)]
    assert all(not a.error and len(a.images) == 1 for a in answers)
