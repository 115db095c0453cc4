"""Wheels to run the service (CUDA build) and ``benchmarks/gpu_check.py`` on a GPU host without internet.

    python3 scripts/gpu_wheels.py OUT [--python-version 3.12] [--batch-mb 56] [--skip numpy,pillow,...]

Downloads, for that Python on x86-64 Linux, the service's requirements with the ``gpu`` extra
(onnxruntime-gpu) plus httpx, every dependency included, as wheels. Some transfers limit the size of one
file or of one batch (the onnxruntime-gpu wheel alone is about 255 MB), so files above ``--batch-mb`` are cut
into ``NAME.whl.partNN`` pieces and everything is sorted into folders ``OUT/1``, ``OUT/2``, ... of at most
``--batch-mb`` each, to be carried one folder at a time. ``--skip`` leaves out packages the host already has.

On the host, with the files of every folder copied into one flat directory ``W``::

    for f in W/*.whl.part00; do cat "${f%.part00}".part?? > "${f%.part00}" && rm "${f%.part00}".part??; done
    python3 -m pip install --no-index --no-deps --target /tmp/site W/*.whl
    PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py --out results/gpu
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))

from pyproject_requirements import requirements  # noqa: E402

PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)


def cut(path: Path, limit: int) -> list[Path]:
    """``[path]`` if it fits in ``limit`` bytes, else its pieces ``path.part00``, ``01``, ... instead."""
    if path.stat().st_size <= limit:
        return [path]
    pieces = []
    with path.open("rb") as f:
        while chunk := f.read(limit):
            piece = path.with_name(f"{path.name}.part{len(pieces):02d}")
            piece.write_bytes(chunk)
            pieces.append(piece)
    path.unlink()
    return pieces


def pack(files: list[Path], limit: int) -> list[list[Path]]:
    """Group files (each at most ``limit`` bytes) into as few batches of at most ``limit`` bytes as first-fit
    by decreasing size gives."""
    batches: list[tuple[int, list[Path]]] = []
    for f in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        size = f.stat().st_size
        if size > limit:
            raise ValueError(f"{f} ({size} bytes) is larger than a batch ({limit} bytes)")
        for i, (used, members) in enumerate(batches):
            if used + size <= limit:
                batches[i] = (used + size, [*members, f])
                break
        else:
            batches.append((size, [f]))
    return [members for _, members in batches]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--batch-mb", type=int, default=56)
    parser.add_argument("--skip", default="", help="comma-separated package names the host already has")
    args = parser.parse_args()

    staging = args.out / "download"
    wanted = [*requirements(str(ROOT / "pyproject.toml"), ["gpu"]), "httpx"]
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--implementation", "cp"]
    cmd += ["--python-version", args.python_version, "-d", str(staging)]
    cmd += [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([*cmd, *wanted], check=True)
    skip = {s.strip().lower().replace("-", "_") for s in args.skip.split(",") if s.strip()}
    limit = args.batch_mb << 20
    files = []
    for wheel in sorted(staging.glob("*.whl")):
        if wheel.name.split("-")[0].lower() in skip:
            wheel.unlink()
            continue
        files += cut(wheel, limit)
    for i, batch in enumerate(pack(files, limit), start=1):
        folder = args.out / str(i)
        folder.mkdir(parents=True, exist_ok=True)
        for f in batch:
            f.rename(folder / f.name)
        size = sum((folder / f.name).stat().st_size for f in batch)
        print(f"{folder}: {size / 1e6:.1f} MB, {len(batch)} files")
    staging.rmdir()


if __name__ == "__main__":
    main()
