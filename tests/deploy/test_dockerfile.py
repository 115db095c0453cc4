"""Lint rules for the Dockerfile that matter here (Debian has no hadolint): a documented, offline checker.

Rules: multi-stage with the four targets; BASE_IMAGE (and GPU_BASE_IMAGE) are build ARGs used by FROM; every
target runs as a non-root user; no torch and no training extra in what the serving targets are made of; no
compiler installed anywhere; apt installs without recommends and cleans its lists; the serving targets have a
HEALTHCHECK and exec-form ENTRYPOINT; every COPY source is let through by .dockerignore; the GPU base matches
the CUDA/cuDNN majors that the pinned onnxruntime-gpu needs.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

from ._dockerfile import Dockerfile, Instruction, _logical_lines, parse

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("cpu", "gpu", "lb", "train")
SERVING = ("cpu", "gpu")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(ROOT / "Dockerfile")


def _runs(df: Dockerfile, stage_names: set[str]) -> list[Instruction]:
    return [i for name in sorted(stage_names) for i in df.stages[name].all("RUN")]


def test_reader_joins_continuations_and_skips_comments() -> None:
    text = "# c\nFROM a AS b\nRUN x \\\n  # inner comment\n  && y\n\nUSER 1\n"
    assert _logical_lines(text) == [(2, "FROM a AS b"), (3, "RUN x && y"), (7, "USER 1")]
    with pytest.raises(ValueError, match="continuation"):
        _logical_lines("RUN x \\\n")


def test_multi_stage_with_every_target(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) >= 5
    for target in TARGETS:
        assert target in dockerfile.stages, f"missing target {target}"


def test_base_images_are_build_args(dockerfile: Dockerfile) -> None:
    assert dockerfile.global_args.get("BASE_IMAGE"), "ARG BASE_IMAGE with a default before the first FROM"
    assert dockerfile.global_args.get("GPU_BASE_IMAGE")
    external = {s.base for s in dockerfile.stages.values() if s.base not in dockerfile.stages}
    assert external == {"${BASE_IMAGE}", "${GPU_BASE_IMAGE}"}, "every external base comes from a build ARG"


@pytest.mark.parametrize("target", TARGETS)
def test_targets_run_as_a_numeric_non_root_user(dockerfile: Dockerfile, target: str) -> None:
    user = dockerfile.effective_user(target)
    resolved = re.sub(r"\$\{(\w+)\}", lambda m: dockerfile.global_args.get(m.group(1), "?"), user)
    # Numeric uid:gid: Kubernetes' runAsNonRoot cannot verify a user name.
    assert re.fullmatch(r"\d+(:\d+)?", resolved), f"{target}: USER {user} -> {resolved!r}"
    assert int(resolved.split(":")[0]) != 0, f"{target} runs as root"


@pytest.mark.parametrize("target", SERVING)
def test_serving_targets_hold_no_torch_nor_training_code(dockerfile: Dockerfile, target: str) -> None:
    made_of = dockerfile.copied_from(target)
    assert "train" not in made_of
    for run in _runs(dockerfile, made_of):
        assert "torch" not in run.args.lower(), f"line {run.line}: {run.args}"
        assert "[train" not in run.args and "[dev" not in run.args, f"line {run.line}: {run.args}"
    for name in made_of:
        for copy in dockerfile.stages[name].all("COPY"):
            assert "model_export" not in copy.args, (
                f"line {copy.line}: the serving image needs no model_export"
            )
    extras = " ".join(run.args for run in _runs(dockerfile, made_of))
    assert ('".[serve]"' if target == "cpu" else '".[gpu]"') in extras, "installed from the pyproject extra"


def test_train_target_pins_torch_through_the_extra(dockerfile: Dockerfile) -> None:
    runs = " ".join(r.args for r in _runs(dockerfile, dockerfile.copied_from("train")))
    assert '".[train]"' in runs
    assert "2.13.0" in runs, "the image checks that it got torch 2.13.0"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in pyproject


def test_no_compiler_is_installed(dockerfile: Dockerfile) -> None:
    compilers = re.compile(r"\b(gcc|g\+\+|clang|build-essential|cmake|make|cython3?|python3-dev|libc6-dev)\b")
    for stage in dockerfile.stages.values():
        for run in stage.all("RUN"):
            if "apt-get install" in run.args:
                assert not compilers.search(run.args), f"line {run.line}: {run.args}"


def test_apt_installs_are_lean(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages.values():
        for run in stage.all("RUN"):
            if "apt-get install" in run.args:
                assert "--no-install-recommends" in run.args, f"line {run.line}"
                assert "rm -rf /var/lib/apt/lists/*" in run.args, f"line {run.line}: lists left in the layer"


@pytest.mark.parametrize("target", (*SERVING, "lb"))
def test_long_running_targets_have_a_healthcheck_and_exec_entrypoint(
    dockerfile: Dockerfile, target: str
) -> None:
    stage = dockerfile.stages[target]
    (health,) = stage.all("HEALTHCHECK")
    assert "/v2/health/ready" in health.args and "urllib" in health.args, "python one-liner, no curl"
    (entry,) = stage.all("ENTRYPOINT")
    assert isinstance(json.loads(entry.args), list), "exec form: signals reach the process"


@pytest.mark.parametrize("target", SERVING)
def test_serving_targets_listen_on_all_interfaces(dockerfile: Dockerfile, target: str) -> None:
    envs = " ".join(e.args for e in dockerfile.stages[target].all("ENV"))
    assert "FOCALSERVE_HOST=0.0.0.0" in envs, "the service's default 127.0.0.1 is unreachable from outside"
    assert "FOCALSERVE_MODEL_REPOSITORY=/models" in envs


def _dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes. Enough of it for an allow-list file."""
    allowed = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern[3:])
        else:
            hit = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
        if hit:
            allowed = negate
    return allowed


def test_dockerignore_reader() -> None:
    assert _dockerignore_allows("service/app.py")
    assert not _dockerignore_allows(".venv/bin/python")
    assert not _dockerignore_allows("models/detector/1/model.onnx")
    assert not _dockerignore_allows("service/__pycache__/app.cpython-311.pyc")


def test_every_copy_source_is_in_the_build_context(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages.values():
        for copy in stage.all("COPY"):
            if "--from=" in copy.args:
                continue
            *sources, _dest = [a for a in copy.args.split() if not a.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"line {copy.line}: {source} does not exist"
                assert _dockerignore_allows(source.rstrip("/")), (
                    f"line {copy.line}: .dockerignore drops {source}"
                )


def test_gpu_base_matches_onnxruntime_gpu(dockerfile: Dockerfile) -> None:
    # onnxruntime-gpu 1.31 on PyPI: its extras pin nvidia-cuda-runtime~=13.0 and nvidia-cudnn-cu13~=9.0.
    version = dockerfile.global_args["ORT_GPU_VERSION"]
    assert tuple(int(p) for p in version.split(".")[:2]) >= (1, 31)
    base = dockerfile.global_args["GPU_BASE_IMAGE"]
    assert re.fullmatch(r"nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu24\.04", base), base
