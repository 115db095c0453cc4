"""Print the project's requirements (base + the named extras) from pyproject.toml, one per line.

Used by the Dockerfile to install the dependencies in a layer of their own, before the sources are copied:
a change to the code then reuses that layer instead of reinstalling onnxruntime, numpy, grpcio, ...

    python3 deploy/pyproject_requirements.py pyproject.toml serve > requirements.txt
"""

from __future__ import annotations

import sys
import tomllib


def requirements(pyproject: str, extras: list[str]) -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"unknown extra(s) {unknown}; pyproject has {sorted(optional)}")
    return [*project.get("dependencies", []), *(r for e in extras for r in optional[e])]


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print("\n".join(requirements(sys.argv[1], sys.argv[2:])))
