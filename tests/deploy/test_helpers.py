"""The small programs beside the deployment files: the smoke client's own reference values and PNG, and the
requirements reader the Dockerfile uses for its dependency layer."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from losses import focal_loss

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


smoke = _load("smoke_client")
reqs = _load("pyproject_requirements")


@pytest.mark.parametrize("logit", [-30.0, -2.0, -1e-3, 0.0, 0.1, 5.0, 40.0])
@pytest.mark.parametrize("label", [0, 1])
def test_smoke_reference_focal_loss_matches_the_losses_package(logit: float, label: int) -> None:
    expected = focal_loss(np.array([logit]), np.array([label]), alpha=0.25, gamma=2.0, reduction="none")
    assert smoke._focal_binary(logit, label, 0.25, 2.0) == pytest.approx(
        float(expected[0]), rel=1e-9, abs=1e-300
    )


def test_smoke_png_decodes_to_the_drawn_picture() -> None:
    image = Image.open(io.BytesIO(smoke._png(160, 120)))
    assert image.size == (160, 120) and image.mode == "RGB"
    assert image.getpixel((20, 20)) == (230, 40, 40)  # the square
    assert image.getpixel((85, 80)) == (40, 200, 60)  # the disc
    assert image.getpixel((150, 5)) == (0, 0, 0)


def test_smoke_number_walk_ignores_booleans() -> None:
    assert smoke._numbers({"a": [1, 2.5, True], "b": {"c": "x", "d": -3}}) == [1.0, 2.5, -3.0]


def test_requirements_of_an_extra_are_the_base_plus_the_extra() -> None:
    serve = reqs.requirements(str(ROOT / "pyproject.toml"), ["serve"])
    assert any(r.startswith("onnxruntime") for r in serve)
    assert not any(r.startswith("torch") for r in serve)
    train = reqs.requirements(str(ROOT / "pyproject.toml"), ["train"])
    assert "torch==2.13.0" in train
    assert set(serve) - {r for r in serve if r.startswith("onnxruntime")} <= set(train)


def test_requirements_reader_rejects_an_unknown_extra() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy/pyproject_requirements.py"),
            str(ROOT / "pyproject.toml"),
            "nope",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0 and "unknown extra" in out.stderr and out.stdout == ""
