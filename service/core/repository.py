"""The model repository (Triton layout, see docs/model_repository.md): scanning and lookup.

One version is a `service.core.model_version.ModelVersion` (re-exported here with `TensorSpec`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import NotFound
from .model_config import ModelConfig, VersionPolicy, read_config
from .model_version import ModelVersion, TensorSpec

__all__ = ["ModelRegistry", "ModelVersion", "TensorSpec", "model_folders", "scan_model", "scan_repository"]

log = logging.getLogger(__name__)


class ModelRegistry:
    """Every model and version found in the repository; the highest version serves by default."""

    def __init__(self, versions: list[ModelVersion]) -> None:
        self._models: dict[str, dict[str, ModelVersion]] = {}
        for mv in sorted(versions, key=lambda m: (m.name, int(m.version))):
            self._models.setdefault(mv.name, {})[mv.version] = mv

    def names(self) -> list[str]:
        return sorted(self._models)

    def keep_only(self, names: set[str]) -> None:
        """Forget every model not in ``names`` (explicit model control: what is not asked for at start)."""
        self._models = {name: versions for name, versions in self._models.items() if name in names}

    def add(self, mv: ModelVersion) -> None:
        """Serve ``mv`` (replacing the version of the same name and number, if any)."""
        self._models.setdefault(mv.name, {})[mv.version] = mv
        self._models[mv.name] = dict(sorted(self._models[mv.name].items(), key=lambda kv: int(kv[0])))

    def remove(self, mv: ModelVersion) -> None:
        """Stop serving ``mv`` if it is the one served under its name and number (a model without versions
        leaves the registry)."""
        versions = self._models.get(mv.name, {})
        if versions.get(mv.version) is mv:
            del versions[mv.version]
            if not versions:
                del self._models[mv.name]

    def versions(self, name: str) -> list[ModelVersion]:
        """Versions of ``name``, oldest first. Raises `NotFound`."""
        if name not in self._models:
            raise NotFound(f"model {name!r} is not in the repository (known: {self.names()})", field="model")
        return list(self._models[name].values())

    def get(self, name: str, version: str | None = None) -> ModelVersion:
        """A model version; ``None``: the default, the highest version that is ready (the highest of all
        while none is). A broken newest version so leaves the model served by the one before it.

        Raises:
            NotFound: unknown model or version.
        """
        versions = self._models.get(name)
        if versions is None:
            raise NotFound(f"model {name!r} is not in the repository (known: {self.names()})", field="model")
        if version is None:
            ready = [v for v, mv in versions.items() if mv.ready]
            return versions[max(ready or versions, key=int)]
        if version not in versions:
            raise NotFound(
                f"model {name!r} has no version {version!r} (versions: {list(versions)})", field="version"
            )
        return versions[version]

    def __iter__(self) -> Iterator[ModelVersion]:
        for versions in self._models.values():
            yield from versions.values()

    def __len__(self) -> int:
        return sum(len(v) for v in self._models.values())

    @property
    def all_servable(self) -> bool:
        """Every model has a ready version (a failed version beside a ready one does not count against)."""
        return all(any(mv.ready for mv in versions.values()) for versions in self._models.values())


def scan_repository(root: Path) -> ModelRegistry:
    """Find ``<root>/<name>/<int version>/model.onnx`` (+ metadata.json, ../config.pbtxt); load nothing yet.

    Only the versions the model's ``version_policy`` names are taken (Triton's default: the latest one).

    Raises:
        FileNotFoundError: ``root`` is not a directory.
    """
    found: list[ModelVersion] = []
    for model_dir in model_folders(root):
        found += scan_model(model_dir)
    if found:
        log.info("model repository %s: %d model version(s)", root, len(found))
    else:
        log.warning("model repository %s holds no model (<name>/<version>/model.onnx)", root)
    return ModelRegistry(found)


def model_folders(root: Path) -> list[Path]:
    """The repository's model folders (every directory not starting with a dot), by name.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"model repository {root} is not a directory")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_model(model_dir: Path, override: ModelConfig | None = None) -> list[ModelVersion]:
    """The versions of one model folder that its ``version_policy`` names (none loaded yet).

    ``override`` (a load request's configuration) replaces what config.pbtxt says; the versions it selects
    carry its policy in ``version_policy``.
    """
    config_path = model_dir / "config.pbtxt"
    config_error: str | None = None
    try:
        config = read_config(config_path.read_text()) if config_path.is_file() else ModelConfig()
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # every version fails, naming the file
        config, config_error = ModelConfig(version_policy=VersionPolicy("all")), f"{config_path}: {exc}"
    if override is not None:
        config, config_error = override, None
    max_batch = config.max_batch_size
    candidates = {int(p.name): p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()}
    served = config.version_policy.select(list(candidates))
    if len(served) < len(candidates):
        log.info(
            "model %s: serving version(s) %s of %s (version_policy %s)",
            model_dir.name,
            served,
            sorted(candidates),
            config.version_policy.describe(),
        )
    found: list[ModelVersion] = []
    for version_dir in (candidates[v] for v in served):
        onnx = version_dir / "model.onnx"
        if not onnx.exists():
            log.warning("%s has no model.onnx: not a model version, skipped", version_dir)
            continue
        metadata, error = _read_metadata(version_dir / "metadata.json")
        error = config_error or error
        if not onnx.is_file():
            error = f"{onnx} is not a regular file"
        mv = ModelVersion(model_dir.name, str(int(version_dir.name)), version_dir, metadata, max_batch)
        mv.stamp = _stamp(onnx, version_dir / "metadata.json", config_path)
        if override is not None:
            mv.version_policy = override.version_policy
        if error is not None:
            mv.state, mv.error = "failed", error
            log.error("model %s version %s is broken: %s", mv.name, mv.version, error)
        found.append(mv)
    return found


def _stamp(*paths: Path) -> tuple[int, ...]:
    """Sizes and modification times of the files a version is made of (0, 0 for one that is absent)."""
    out: list[int] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            out += (0, 0)
        else:
            out += (info.st_size, info.st_mtime_ns)
    return tuple(out)


def _read_metadata(path: Path) -> tuple[dict[str, Any], str | None]:
    """metadata.json as a dict (empty when absent), or why it cannot be read, naming the file."""
    if not path.is_file():
        return {}, None
    try:
        metadata = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{path} is not readable JSON: {exc}"
    if not isinstance(metadata, dict):
        return {}, f"{path} must hold a JSON object"
    return metadata, None
