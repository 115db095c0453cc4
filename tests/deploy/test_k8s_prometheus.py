"""The scaling queries of deploy/k8s, evaluated by a real Prometheus scraping a real service holding requests.

No cluster here, so Kubernetes' part is played by hand: Prometheus (Debian's package; `.ci/run` installs it)
scrapes the service on 127.0.0.1 with the ``namespace`` and ``pod`` labels that Kubernetes service discovery
would add. The service is made to hold requests (a long batching delay, a batch larger than the requests
sent), and then the very PromQL of the KEDA trigger, of KServe's external metric and of Prometheus Adapter's
rule (its template filled as the adapter fills it for the HPA) must each come out as the requests held.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.live import run_in_thread
from tests.service.images import encode, red_box_image

from ._k8s import K8S, ROOT, build, kind, kustomize_command, one

PROMETHEUS = shutil.which("prometheus")
NAMESPACE, POD = "focalserve", "focalserve-5d9c7b8f4-x2x7q"
HELD = 20  # requests held at once: below the batch (32), so none runs before the delay is over
DELAY_MS = 8000
_LISTENING = re.compile(r'msg="Listening on" address=127\.0\.0\.1:(\d+)')

pytestmark = pytest.mark.slow


def _require_tools() -> None:
    missing = [
        name for name, found in (("prometheus", PROMETHEUS), ("kustomize", kustomize_command())) if not found
    ]
    if missing:
        reason = f"not installed: {', '.join(missing)} (.ci/run installs prometheus, the dev extra kustomize)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@contextlib.contextmanager
def _prometheus(folder: Path, target: str) -> Iterator[httpx.Client]:
    """Prometheus on 127.0.0.1 (port 0, read back from its log) scraping ``target`` every second."""
    assert PROMETHEUS is not None
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
        "scrape_configs": [
            {
                "job_name": "focalserve",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target], "labels": {"namespace": NAMESPACE, "pod": POD}}],
            }
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    log_path = folder / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                "--web.listen-address=127.0.0.1:0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := _LISTENING.search(log_path.read_text(errors="replace"))):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{found.group(1)}", timeout=10) as client:
            yield client
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_scraping(prometheus: httpx.Client) -> None:
    """Until the target has been scraped once (Prometheus hands discovered targets over every 5 s)."""
    deadline = time.monotonic() + 30
    while True:
        targets = prometheus.get("/api/v1/targets").json()["data"]["activeTargets"]
        if targets and all(t["health"] == "up" for t in targets):
            return
        assert time.monotonic() < deadline, f"no healthy target: {targets}"
        time.sleep(0.2)


def _query(prometheus: httpx.Client, promql: str, at: float) -> list[dict[str, Any]]:
    """``promql`` evaluated at time ``at`` (every query of one check at the same instant)."""
    r = prometheus.get("/api/v1/query", params={"query": promql, "time": f"{at:.3f}"})
    assert r.status_code == 200 and r.json()["status"] == "success", (promql, r.text)
    result: list[dict[str, Any]] = r.json()["data"]["result"]
    return result


def _adapter_query(rule: dict[str, Any], selector: dict[str, str]) -> str:
    """The adapter's ``metricsQuery`` as it sends it for the HPA's metric on the pods of the namespace."""
    matchers = [f'namespace="{NAMESPACE}"', f'pod=~"{POD}"'] + [f'{k}="{v}"' for k, v in selector.items()]
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", rule["name"]["as"])
        .replace("<<.LabelMatchers>>", ",".join(matchers))
        .replace("<<.GroupBy>>", "pod")
    )


def test_the_scaling_queries_count_the_requests_a_replica_holds(tmp_path: Path) -> None:
    _require_tools()
    keda = [t for so in kind(build(K8S / "overlays" / "cpu"), "ScaledObject") for t in so["spec"]["triggers"]]
    isvc = one(build(K8S / "kserve" / "focalserve"), "InferenceService")
    queries = [t["metadata"]["query"] for t in keda] + [
        m["external"]["metric"]["query"] for m in isvc["spec"]["predictor"]["autoScaling"]["metrics"]
    ]
    values = yaml.safe_load(
        (K8S / "components/prometheus-adapter/prometheus-adapter-values.yaml").read_text()
    )
    (rule,) = values["rules"]["custom"]
    (metric,) = yaml.safe_load((K8S / "components/prometheus-adapter/hpa.yaml").read_text())["spec"][
        "metrics"
    ]
    selector = metric["pods"]["metric"]["selector"]["matchLabels"]
    png = encode(red_box_image("RGB", (96, 80), (10, 10, 50, 40)))

    with (
        run_in_thread(ROOT / "models", max_batch_size=32, max_queue_delay_ms=DELAY_MS) as live,
        _prometheus(tmp_path, f"127.0.0.1:{live.http_port}") as prometheus,
    ):
        _wait_until_scraping(prometheus)
        answers: list[int] = []

        def detect() -> None:
            with httpx.Client(base_url=live.url, timeout=60) as client:
                r = client.post(
                    "/v1/models/detector/detect", content=png, headers={"Content-Type": "image/png"}
                )
                answers.append(r.status_code)

        senders = [threading.Thread(target=detect) for _ in range(HELD)]
        for t in senders:
            t.start()
        # Until Prometheus has seen all of them held for two scrapes. Evaluated a little in the past, so
        # that no scrape is still being written at that instant.
        held = f'focalserve_pending_requests{{namespace="{NAMESPACE}",model="detector"}}'
        deadline = time.monotonic() + DELAY_MS / 1000 - 1
        while True:
            at = time.time() - 1.2
            samples = _query(prometheus, f"{held}[1m]", at)
            points = [float(v) for series in samples for _, v in series["values"]]
            if points.count(float(HELD)) >= 2:
                break
            assert time.monotonic() < deadline, f"Prometheus never saw {HELD} held: {samples}"
            time.sleep(0.2)
        # What the series held over the window, sample by sample: the queries must agree with it.
        expected = sum(points) / len(points)
        assert points[-1] == HELD
        for promql in queries:
            (series,) = _query(prometheus, promql, at)
            assert math.isclose(float(series["value"][1]), expected, rel_tol=1e-9), promql
        (per_pod,) = _query(prometheus, _adapter_query(rule, selector), at)
        assert per_pod["metric"] == {"pod": POD}
        assert math.isclose(float(per_pod["value"][1]), expected, rel_tol=1e-9)
        for t in senders:
            t.join(60)
        assert answers == [200] * HELD, "held, then answered"
