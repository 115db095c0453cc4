"""config.pbtxt as the service reads it: the batch limit and Triton's version policy, honoured at the scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.model_config import VersionPolicy, read_config
from service.core.repository import scan_repository
from tests.service.standin import write_repository


@pytest.mark.parametrize(
    ("text", "found", "served"),
    [
        ("", [1, 2, 3], [3]),  # Triton's default: the latest version
        ("version_policy: { latest: { num_versions: 2 } }", [3, 1, 2], [2, 3]),
        ("version_policy { latest { num_versions: 5 } }", [1, 2], [1, 2]),
        ("version_policy: { specific: { versions: [1, 3] } }", [1, 2, 3], [1, 3]),
        ("version_policy: { specific { versions: 2 versions: 4 } }", [1, 2, 3], [2]),
        ("version_policy: { all { } }", [2, 1, 7], [1, 2, 7]),
        ('name: "m"\nmax_batch_size: 8\nversion_policy: {\n  all: {}\n}\n', [1, 2], [1, 2]),
    ],
)
def test_version_policies_select_as_triton_does(text: str, found: list[int], served: list[int]) -> None:
    assert read_config(text).version_policy.select(found) == served


@pytest.mark.parametrize(
    "text",
    [
        "version_policy: { latest: { } }",
        "version_policy: { specific: { versions: [] } }",
        "version_policy: { newest {} }",
    ],
)
def test_a_policy_the_service_cannot_read_is_an_error_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="version_policy"):
        read_config(text)


def test_max_batch_size_is_read_and_zero_when_absent() -> None:
    assert read_config('name: "d"\nmax_batch_size: 32\n').max_batch_size == 32
    assert read_config('name: "d"\n').max_batch_size == 0
    assert read_config("").version_policy == VersionPolicy("latest", num_versions=1)


def _with_policy(root: Path, policy: str | None) -> Path:
    write_repository(root, versions=(1, 2, 3))
    config = root / "standin" / "config.pbtxt"
    lines = [line for line in config.read_text().splitlines() if not line.startswith("version_policy")]
    config.write_text("\n".join([*lines, *([policy] if policy else [])]) + "\n")
    return root


@pytest.mark.parametrize(
    ("policy", "versions"),
    [
        (None, ["3"]),
        ("version_policy: { latest: { num_versions: 2 } }", ["2", "3"]),
        ("version_policy: { specific: { versions: [1, 3] } }", ["1", "3"]),
        ("version_policy: { all { } }", ["1", "2", "3"]),
    ],
)
def test_the_scan_serves_the_versions_the_policy_names(tmp_path: Path, policy: str | None, versions) -> None:
    registry = scan_repository(_with_policy(tmp_path, policy))
    assert [mv.version for mv in registry.versions("standin")] == versions
    assert registry.get("standin").version == versions[-1]


def test_a_config_the_service_cannot_read_fails_its_versions_naming_the_file(tmp_path: Path) -> None:
    root = _with_policy(tmp_path, "version_policy: { latest: { } }")
    write_repository(root, name="other")
    registry = scan_repository(root)
    assert registry.names() == ["other", "standin"]
    broken = registry.versions("standin")
    assert [mv.state for mv in broken] == ["failed"] * 3
    assert all("config.pbtxt: version_policy latest: needs num_versions" in (mv.error or "") for mv in broken)
    assert registry.get("other").state == "loading"
