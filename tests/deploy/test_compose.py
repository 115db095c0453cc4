"""docker-compose.yml, deploy/compose.gpu.yml and deploy/nginx.conf: structure, and the real validator.

The structural checks read the YAML (with `${VAR:-default}` resolved to its default); `docker-compose config`
validates against Compose's schema where the binary exists (.ci/run installs it; no engine is needed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

from ._dockerfile import parse

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _defaults(tree: Any) -> Any:
    """Every `${VAR:-default}` / `${VAR-default}` replaced by its default (`${VAR}` by '')."""
    if isinstance(tree, str):
        return _VAR.sub(lambda m: m.group(2) or "", tree)
    if isinstance(tree, dict):
        return {k: _defaults(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_defaults(v) for v in tree]
    return tree


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / name).read_text())
    assert isinstance(data, dict)
    return dict(_defaults(data))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"unreadable duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_services_and_profiles(services: dict[str, Any]) -> None:
    assert set(services) == {"service", "lb", "train", "postgres"}
    assert services["train"]["profiles"] == ["train"]
    assert "profiles" not in services["service"] and "profiles" not in services["lb"], "the default stack"
    assert "profiles" not in services["postgres"]


def test_replicas_share_scoring_sessions_in_postgres_on_a_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    service, postgres = services["service"], services["postgres"]
    url = service["environment"]["FOCALSERVE_SCORE_STORE"]
    assert url == "postgresql://focalserve:focalserve@postgres:5432/focalserve"
    assert Settings.model_validate({"score_store": url}).score_store == url
    env = postgres["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == ("focalserve",) * 3
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    (volume,) = postgres["volumes"]
    name, target = volume.split(":")
    assert target == "/var/lib/postgresql/data" and name in compose["volumes"], "a named volume"
    assert "ports" not in postgres, "the database is reached inside the compose network only"


def test_build_targets_exist_in_the_dockerfile(services: dict[str, Any]) -> None:
    stages = parse(ROOT / "Dockerfile").stages
    for name, spec in services.items():
        if name == "postgres":  # the database's own image, not built here
            assert "build" not in spec
            continue
        assert spec["build"]["target"] in stages, name
        assert spec["build"]["context"] == "."
        assert "BASE_IMAGE" in spec["build"]["args"], f"{name}: the base image is a build arg"


def test_service_environment_is_valid_settings(services: dict[str, Any]) -> None:
    env = {k: str(v) for k, v in services["service"]["environment"].items()}
    prefix = "FOCALSERVE_"
    unknown = {
        k for k in env if k.startswith(prefix) and k[len(prefix) :].lower() not in Settings.model_fields
    }
    assert unknown == set(), "typo'd settings would be ignored silently"
    fields = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    settings = Settings.model_validate(fields)  # raises on a bad value
    assert settings.http_port == 8000 and settings.grpc_port == 8001
    assert str(settings.model_repository) == "/models"


def test_service_healthcheck_restart_limits_and_readonly_models(services: dict[str, Any]) -> None:
    service = services["service"]
    test = " ".join(service["healthcheck"]["test"])
    assert service["healthcheck"]["test"][0] == "CMD" and "python" in test and "urllib" in test
    assert "/v2/health/ready" in test
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0 and limits["memory"]
    assert any(v.endswith(":/models:ro") for v in service["volumes"]), "model repository mounted read-only"
    assert "ports" not in service, "replicas publish nothing: the lb does (else --scale collides on ports)"
    assert set(service["expose"]) == {"8000", "8001"}


def test_stop_grace_period_covers_the_shutdown_grace(services: dict[str, Any]) -> None:
    service = services["service"]
    grace = float(service["environment"]["FOCALSERVE_SHUTDOWN_GRACE_S"])
    stop = _seconds(service["stop_grace_period"])
    assert grace + 1 <= stop <= grace + 30, "docker must not SIGKILL while the service drains, nor wait long"
    assert _seconds(services["lb"]["stop_grace_period"]) >= grace


def test_lb_publishes_rest_and_grpc_and_waits_for_a_healthy_service(services: dict[str, Any]) -> None:
    lb = services["lb"]
    assert lb["depends_on"]["service"]["condition"] == "service_healthy"
    targets = sorted(p.rsplit(":", 1)[1] for p in lb["ports"])
    assert targets == ["8000", "8001"]
    assert lb["healthcheck"]["test"] == services["service"]["healthcheck"]["test"], "lb checks through itself"


def test_train_writes_the_repository_the_service_reads(services: dict[str, Any]) -> None:
    train, service = services["train"], services["service"]
    (train_volume,) = train["volumes"]
    (service_volume,) = service["volumes"]
    assert train_volume.split(":")[0] == service_volume.split(":")[0], "the same host directory"
    assert not train_volume.endswith(":ro")
    assert train["restart"] == "no"
    assert "/models" in train["command"]


def test_gpu_override_reserves_a_gpu() -> None:
    gpu = _load("deploy/compose.gpu.yml")["services"]["service"]
    assert gpu["build"]["target"] == "gpu"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["environment"]["FOCALSERVE_EXECUTION_PROVIDERS"].split(",")[0] == "cuda"
    Settings.model_validate({"execution_providers": gpu["environment"]["FOCALSERVE_EXECUTION_PROVIDERS"]})


def test_nginx_balances_rest_over_http1_and_grpc_over_http2() -> None:
    conf = (ROOT / "deploy/nginx.conf").read_text()
    body = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert re.search(r"listen\s+8000\s*;", body)
    assert re.search(r"listen\s+8001\s+http2\s*;", body)
    assert re.search(r"set\s+\$focalserve_rest\s+service:8000\s*;", body)
    assert re.search(r"set\s+\$focalserve_grpc\s+service:8001\s*;", body)
    assert "proxy_pass http://$focalserve_rest;" in body and "proxy_http_version 1.1;" in body
    assert "grpc_pass grpc://$focalserve_grpc;" in body
    assert re.search(r"resolver\s+127\.0\.0\.11\b", body), (
        "re-resolved per request: scaled replicas get traffic"
    )
    assert body.count("{") == body.count("}")
    # Writable paths only under /tmp (the lb runs as a non-root user on a read-only root filesystem).
    for path in re.findall(r"(?:pid|_temp_path)\s+(\S+);", body):
        assert path.startswith("/tmp/"), path


_COMPOSE = shutil.which("docker-compose")


@pytest.mark.skipif(_COMPOSE is None, reason="docker-compose not installed (.ci/run installs it)")
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--profile", "train"],
        ["-f", "docker-compose.yml", "-f", "deploy/compose.gpu.yml"],
    ],
    ids=["default", "train", "gpu"],
)
def test_docker_compose_config_validates(args: list[str]) -> None:
    assert _COMPOSE is not None
    out = subprocess.run(
        [_COMPOSE, "--project-directory", str(ROOT), *args, "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rendered = yaml.safe_load(out.stdout)
    # docker-compose 1.29 renders profiled services too; `--profiles` lists the profiles.
    assert {"service", "lb"} <= set(rendered["services"])
    if "train" in args:
        assert rendered["services"]["train"]["profiles"] == ["train"]
    if "deploy/compose.gpu.yml" in args:
        assert rendered["services"]["service"]["build"]["target"] == "gpu"
        assert rendered["services"]["service"]["deploy"]["resources"]["limits"], "the base limits are kept"


def test_train_command_matches_the_model_export_cli(services: dict[str, Any]) -> None:
    command = services["train"]["command"]
    out = subprocess.run(
        [sys.executable, "-m", "model_export", command[0], "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
    )
    assert out.returncode == 0, out.stderr
    for flag in (a for a in command[1:] if a.startswith("--")):
        assert flag in out.stdout, f"model_export {command[0]} has no {flag}"
