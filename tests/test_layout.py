"""Project-wide invariants: which side of the service a module is on, and what it may import.

- the serving side stays free of torch and of the training code;
- `service.core` knows no transport (no fastapi / starlette / uvicorn / grpc) and no edge;
- `service.oip` builds on the core only; the REST and gRPC edges never import each other;
- inside `service`, imports are relative (no module reaches the package root by name);
- no hand-written module of the service or the training side is over 300 lines (generated stubs in
  ``service/_proto`` aside).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "service"
FORBIDDEN = ("torch", "model_export")
TRANSPORTS = {"fastapi", "starlette", "uvicorn", "grpc", "grpc_health", "grpc_reflection", "httptools"}
MAX_LINES = 300


def _sources() -> list[Path]:
    return sorted(p for p in SERVICE.rglob("*.py") if "_proto" not in p.parts)


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def _roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def _offenders(folder: str, banned_roots: set[str], banned_packages: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in _sources():
        if not _module_of(path).startswith(folder):
            continue
        names = _imports(path)
        bad = sorted(_roots(names) & banned_roots) + sorted(
            n for n in names if any(n == p or n.startswith(p + ".") for p in banned_packages)
        )
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


def test_service_sources_import_neither_torch_nor_model_export() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_roots(_imports(p)) & set(FORBIDDEN))
        for p in SERVICE.rglob("*.py")
        if _roots(_imports(p)) & set(FORBIDDEN)
    }
    assert offenders == {}


def test_the_core_knows_no_transport_and_no_edge() -> None:
    edges = ("service.rest", "service.grpc", "service.oip", "service.runtime")
    assert _offenders("service.core", TRANSPORTS, edges) == {}


def test_the_protocol_package_builds_on_the_core_only() -> None:
    assert _offenders("service.oip", TRANSPORTS, ("service.rest", "service.grpc", "service.runtime")) == {}


@pytest.mark.parametrize(
    ("edge", "other", "foreign"),
    [
        ("service.rest", "service.grpc", {"grpc", "grpc_health", "grpc_reflection"}),
        ("service.grpc", "service.rest", {"fastapi", "starlette", "uvicorn"}),
    ],
)
def test_the_edges_never_import_each_other(edge: str, other: str, foreign: set[str]) -> None:
    assert _offenders(edge, foreign, (other, "service.runtime")) == {}


def test_imports_inside_the_service_are_relative() -> None:
    absolute: dict[str, int] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            is_abs = (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").split(".")[0] == "service"
            ) or (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "service" for a in node.names))
            if is_abs:
                absolute[str(path.relative_to(ROOT))] = node.lineno
    assert absolute == {}


def test_no_hand_written_module_is_over_300_lines() -> None:
    sources = [p for p in (ROOT / d for d in ("service", "model_export")) if p.is_dir()]
    long = {
        str(p.relative_to(ROOT)): n
        for folder in sources
        for p in folder.rglob("*.py")
        if "_proto" not in p.parts and (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_layout_rules_see_a_violation(tmp_path: Path) -> None:
    # the checks above would be vacuous if import resolution were wrong: resolve a known relative import
    names = _imports(SERVICE / "core" / "state.py")
    assert "service.settings.Settings" in names and "service.core.repository" in names
    assert "service.core.state" in _imports(SERVICE / "rest" / "routers" / "__init__.py")


def test_service_and_losses_import_with_torch_unavailable() -> None:
    # A meta-path finder that refuses torch: the import of the serving stack must not need it.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'model_export'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
        "import losses, service\n"
        "import numpy as np\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
