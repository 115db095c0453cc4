"""ONNX Runtime backend: provider plans (pure), real sessions, a model that fails to load."""

from __future__ import annotations

import time
from pathlib import Path

import onnxruntime as ort
import pytest

from service.core.backend import CPU, CUDA, create_session, provider_plan
from service.errors import Unavailable

from .conftest import run_service
from .images import encode, red_box_image
from .standin import write_repository

#: this onnxruntime build has the CUDA provider (it says nothing about a GPU being there)
HAS_CUDA = CUDA in ort.get_available_providers()


def test_provider_plans() -> None:
    with_cuda = [CUDA, CPU]
    assert provider_plan(["auto"], with_cuda) == [
        [(CUDA, {"cudnn_conv_algo_search": "HEURISTIC"}), CPU],
        [CPU],
    ]
    assert provider_plan(["auto"], [CPU]) == [[CPU]]
    assert provider_plan(["cuda"], [CPU]) == []  # required but absent: nothing to try
    assert provider_plan(["cpu"], with_cuda) == [[CPU]]
    assert provider_plan(["cuda", "cpu"], with_cuda)[-1] == [CPU]


def test_cpu_session_reports_what_it_runs_on(standin_repo: Path) -> None:
    session, providers = create_session(
        standin_repo / "standin" / "1" / "model.onnx",
        preferences=["cpu"],
        intra_op_threads=1,
        inter_op_threads=1,
    )
    assert providers == [CPU] and session.get_inputs()[0].name == "images"


def test_auto_session_reports_what_it_runs_on(standin_repo: Path) -> None:
    session, providers = create_session(
        standin_repo / "standin" / "1" / "model.onnx",
        preferences=["auto"],
        intra_op_threads=1,
        inter_op_threads=1,
    )
    assert providers == session.get_providers() and providers[-1] == CPU  # CPU is always the fallback
    if not HAS_CUDA:  # with CUDA in the build the session may run on it (or fall back, without a GPU)
        assert providers == [CPU]


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has the CUDA provider: requiring it succeeds")
def test_required_cuda_without_cuda_is_unavailable(standin_repo: Path) -> None:
    with pytest.raises(Unavailable, match="no execution provider works"):
        create_session(
            standin_repo / "standin" / "1" / "model.onnx",
            preferences=["cuda"],
            intra_op_threads=1,
            inter_op_threads=1,
        )


def test_a_model_that_fails_to_load_keeps_the_service_up_but_not_ready(tmp_path: Path) -> None:
    repo = write_repository(tmp_path)
    (repo / "standin" / "1" / "model.onnx").write_bytes(b"not an onnx model")
    with run_service(repo, wait_ready=False) as service:
        c = service.client
        for _ in range(500):
            versions = c.get("/v1/models").json()["models"][0]["versions"]
            if versions[0]["state"] != "loading":
                break
            time.sleep(0.02)
        assert versions[0]["state"] == "failed" and versions[0]["error"]
        assert c.get("/v2/health/live").status_code == 200
        assert c.get("/v2/health/ready").status_code == 503
        assert c.get("/v2/models/standin/ready").status_code == 503
        r = c.post(
            "/v1/models/standin/detect",
            content=encode(red_box_image()),
            headers={"content-type": "image/png"},
        )
        assert r.status_code == 503 and "failed to load" in r.json()["detail"]
