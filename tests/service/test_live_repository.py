"""The live repository (``model_control_mode: poll``): versions swapped under load with no failed request."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from service.settings import DEFAULT_MODEL_REPOSITORY
from tests.live import run_in_thread, run_process
from tests.load import DetectClients, served_versions, until
from tests.service.standin import build_model, write_entry, write_repository

LATEST_ONE = "version_policy: { latest: { num_versions: 1 } }\n"
POLL = {"model_control_mode": "poll", "repository_poll_secs": 0.1}


def _repository(root: Path) -> Path:
    """The stand-in, version 1, serving only its latest version (Triton's default policy)."""
    write_repository(root)
    config = root / "standin" / "config.pbtxt"
    lines = [line for line in config.read_text().splitlines() if not line.startswith("version_policy")]
    config.write_text("\n".join(lines) + "\n" + LATEST_ONE)
    return root


def _drop_version(root: Path, version: int, scratch: Path, *, broken: bool = False) -> None:
    """Write a version next to the repository, then move it in at once (as a deployment would)."""
    shutil.rmtree(scratch, ignore_errors=True)
    write_entry(scratch / "standin", version, build_model(64, 64), classes=["blob"], height=64, width=64)
    if broken:
        (scratch / "standin" / str(version) / "model.onnx").write_bytes(b"not a graph")
    target = root / "standin" / str(version)
    if target.exists():
        shutil.rmtree(target)
    (scratch / "standin" / str(version)).rename(target)


def test_a_new_version_is_swapped_in_under_load_with_no_failure(tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo")
    with run_in_thread(root, **POLL) as service:
        with DetectClients(service.http_url + "/v1/models/standin/detect") as load:
            until(lambda: len(load.answers) > 50, "the clients never got going")
            _drop_version(root, 2, tmp_path / "scratch")
            until(
                lambda: served_versions(service, "standin") == {"2": "ready"},
                "version 2 never replaced version 1",
            )
            seen = len(load.answers)
            until(lambda: len(load.answers) > seen + 50, "the clients stopped")
        gone = service.client.get("/v2/models/standin/versions/1/ready").status_code
    assert gone == 404
    statuses = {status for status, _ in load.answers}
    assert statuses == {200}, [a for a in load.answers if a[0] != 200][:3]
    versions = [version for _, version in load.answers]
    assert versions[0] == "1" and versions[-1] == "2"
    assert versions.index("2") > versions.count("1") - 8 * 2  # once version 2 answers, version 1 stops soon


def test_a_version_that_fails_to_load_never_replaces_a_working_one(tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo")
    with (
        run_in_thread(root, **POLL) as service,
        DetectClients(service.http_url + "/v1/models/standin/detect") as load,
    ):
        _drop_version(root, 2, tmp_path / "scratch", broken=True)
        until(
            lambda: served_versions(service, "standin").get("2") == "failed",
            "the broken version was not reported",
        )
        assert served_versions(service, "standin") == {"1": "ready", "2": "failed"}
        assert "focalserve_model_load_failures_total" in service.client.get("/metrics").text
        _drop_version(root, 2, tmp_path / "scratch")  # fixed: new files, new stamp
        until(
            lambda: served_versions(service, "standin") == {"2": "ready"},
            "the fixed version 2 never took over",
        )
    assert {status for status, _ in load.answers} == {200}


def test_models_come_and_go_with_their_folders(tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo")
    with run_in_thread(root, **POLL) as service:
        write_repository(tmp_path / "scratch", name="other")
        (tmp_path / "scratch" / "other").rename(root / "other")
        until(lambda: service.client.get("/v2/models/other/ready").status_code == 200, "other never came")
        assert service.client.get("/v2/health/ready").status_code == 200
        shutil.rmtree(root / "other")
        until(lambda: service.client.get("/v2/models/other").status_code == 404, "other never left")
        assert "other" not in {m["name"] for m in service.client.get("/v1/models").json()["models"]}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
@pytest.mark.skipif(not (DEFAULT_MODEL_REPOSITORY / "detector" / "1").is_dir(), reason="no default model")
def test_ten_swaps_release_their_sessions(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(DEFAULT_MODEL_REPOSITORY / "detector", root / "detector")
    env = {"model_control_mode": "poll", "repository_poll_secs": "0.1"}
    with run_process(root, tmp_path / "service.log", **env) as service:
        pid = service.process.pid  # type: ignore[union-attr]
        sizes = []
        for version in range(2, 12):
            scratch = tmp_path / f"v{version}"
            shutil.copytree(root / "detector" / str(version - 1), scratch)
            scratch.rename(root / "detector" / str(version))
            until(
                lambda v=version: (
                    service.client.get(f"/v2/models/detector/versions/{v - 1}").status_code == 404
                ),
                f"version {version} never replaced {version - 1}",
            )
            time.sleep(1.5)  # the old version retires once its queue has been quiet for a second
            sizes.append(_rss_mb(pid))
        assert service.client.get("/v2/models/detector").json()["versions"] == ["11"]
    # One version of the 256x256 default model, warmed at batch sizes 1-16, holds well over 30 MiB (a batch of
    # 16 inputs alone is 12 MiB): a session kept per swap would add 240 MiB or more over eight. What is left
    # is the allocator's steps (plateaus of 16-33 MiB as freed arenas are reused or not), not a trend.
    growth = sizes[-1] - sizes[1]
    assert growth < 64, f"resident memory grew {growth:.0f} MiB over eight swaps: {[round(s) for s in sizes]}"


def test_a_version_is_warmed_at_every_batch_size_before_it_serves(tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo")  # config.pbtxt: max_batch_size 8
    write_repository(root, name="small", max_batch_size=3)
    with run_in_thread(root, max_batch_size=5, **POLL) as service:
        registry = service.state.registry
        assert registry.get("standin").warmed_batch_sizes == (1, 2, 3, 4, 5)  # the setting's cap
        assert registry.get("small").warmed_batch_sizes == (1, 2, 3)  # config.pbtxt's cap
        _drop_version(root, 2, tmp_path / "scratch")
        until(
            lambda: served_versions(service, "standin") == {"2": "ready"},
            "version 2 never replaced version 1",
        )
        assert registry.get("standin").version == "2"
        assert registry.get("standin").warmed_batch_sizes == (1, 2, 3, 4, 5)
