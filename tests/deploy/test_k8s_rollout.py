"""The model rollout of docs/deployment.md ("Rolling out a new model version"), step by step, under load.

The volume is a folder here and `kubectl cp` a copy, but the rest is as written there: the service in the
base's model control mode (poll) on a copy of the committed repository, a new version staged in the hidden
``.incoming`` folder of the repository (half-copied for a while: nothing may pick it up), moved in with
``mv -T``, and rolled back by moving it out again. Clients send detect requests all along; every answer must
be a 200, from version 1, then 2, then 1 again.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.live import run_in_thread
from tests.load import DetectClients, served_versions, until

from ._k8s import K8S, ROOT

pytestmark = pytest.mark.slow
POLL_S = 0.2


def _base_settings() -> dict[str, str]:
    (generator,) = yaml.safe_load((K8S / "base/kustomization.yaml").read_text())["configMapGenerator"]
    return dict(literal.split("=", 1) for literal in generator["literals"])


def _mv(source: Path, target: Path) -> None:
    subprocess.run(["mv", "-T", str(source), str(target)], check=True, timeout=10)


def test_the_documented_rollout_and_rollback_fail_no_request(tmp_path: Path) -> None:
    settings = _base_settings()
    assert settings["FOCALSERVE_MODEL_CONTROL_MODE"] == "poll"
    repository = tmp_path / "repository"
    shutil.copytree(ROOT / "models", repository)
    assert "latest: { num_versions: 1 }" in (repository / "detector/config.pbtxt").read_text()
    new = ROOT / "models/detector/1"  # the same graph, published as version 2
    incoming = repository / ".incoming"

    with (
        run_in_thread(repository, model_control_mode="poll", repository_poll_secs=POLL_S) as service,
        DetectClients(service.http_url + "/v1/models/detector/detect", clients=4) as clients,
    ):
        clients.more()
        # kubectl cp, still going: half of model.onnx in the staging folder.
        staged = incoming / "detector-2"
        staged.mkdir(parents=True)
        shutil.copy(new / "metadata.json", staged)
        data = (new / "model.onnx").read_bytes()
        (staged / "model.onnx").write_bytes(data[: len(data) // 2])
        time.sleep(5 * POLL_S)
        assert served_versions(service, "detector") == {"1": "ready"}, "a staged version is not read"
        names = {m["name"] for m in service.client.get("/v1/models").json()["models"]}
        assert ".incoming" not in names
        clients.more()
        # The copy completes; then the rename.
        (staged / "model.onnx").write_bytes(data)
        _mv(staged, repository / "detector/2")
        until(
            lambda: served_versions(service, "detector") == {"2": "ready"},
            "version 2 never replaced version 1",
        )
        clients.more()
        # Rollback: version 2 out again; 1 is the latest and comes back the same way.
        _mv(repository / "detector/2", incoming / "detector-2-withdrawn")
        until(lambda: served_versions(service, "detector") == {"1": "ready"}, "version 1 never came back")
        clients.more()

    failed = [a for a in clients.answers if a[0] != 200]
    assert failed == [], failed[:3]
    versions = [version for _, version in clients.answers]
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    # Four clients: around each swap, answers of both versions may interleave for a moment.
    assert changes[0] == "1" and changes[-1] == "1" and "2" in changes
    assert set(versions) == {"1", "2"}
