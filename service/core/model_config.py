"""What the service reads from a model's ``config.pbtxt`` (Triton's protobuf text format): the batch limit and
the version policy. The rest of the file is for Triton and tools; the service takes shapes from the graph.

``version_policy`` as Triton has it: ``latest { num_versions: N }`` (the default, with N = 1), ``specific {
versions: [...] }`` or ``all { }``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ModelConfig", "VersionPolicy", "read_config"]

_MAX_BATCH = re.compile(r"^\s*max_batch_size\s*:\s*(\d+)", re.MULTILINE)
_POLICY = re.compile(r"\bversion_policy\s*:?\s*\{\s*(latest|specific|all)\s*:?\s*\{([^}]*)\}", re.DOTALL)


@dataclass(frozen=True)
class VersionPolicy:
    """Which of a model's versions are served."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = field(default_factory=tuple)

    def select(self, found: list[int]) -> list[int]:
        """The versions of ``found`` this policy serves, oldest first."""
        ordered = sorted(found)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions :] if self.num_versions > 0 else []

    def describe(self) -> str:
        if self.kind == "latest":
            return f"latest {self.num_versions}"
        return "all" if self.kind == "all" else f"specific {list(self.versions)}"


@dataclass(frozen=True)
class ModelConfig:
    """The parts of config.pbtxt the service uses (``max_batch_size`` 0: not given)."""

    max_batch_size: int = 0
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)


def read_config(text: str) -> ModelConfig:
    """Read config.pbtxt text.

    Raises:
        ValueError: a ``version_policy`` the service cannot read (naming what is wrong).
    """
    batch = _MAX_BATCH.search(text)
    return ModelConfig(int(batch.group(1)) if batch else 0, _read_policy(text))


def _read_policy(text: str) -> VersionPolicy:
    match = _POLICY.search(text)
    if match is None:
        if "version_policy" in text:
            raise ValueError(
                "version_policy: expected latest { num_versions: N }, specific { versions: [...] } or all { }"
            )
        return VersionPolicy()
    kind, body = match.groups()
    if kind == "all":
        return VersionPolicy("all")
    if kind == "latest":
        count = re.search(r"num_versions\s*:\s*(\d+)", body)
        if count is None:
            raise ValueError("version_policy latest: needs num_versions")
        return VersionPolicy("latest", num_versions=int(count.group(1)))
    numbers = re.findall(r"versions\s*:\s*\[?\s*([\d\s,]*)\]?", body)
    versions = tuple(int(v) for group in numbers for v in re.findall(r"\d+", group))
    if not versions:
        raise ValueError("version_policy specific: needs versions")
    return VersionPolicy("specific", versions=versions)
