"""scripts/gpu_wheels.py: large wheels are cut into pieces that join back byte for byte, and batches stay
under their size limit (the download itself needs the network and is not run here)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("gpu_wheels", ROOT / "scripts" / "gpu_wheels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cut_pieces_join_back_exactly(tmp_path: Path) -> None:
    cut = _module().cut
    data = os.urandom(2500)
    wheel = tmp_path / "big-1.0-py3-none-any.whl"
    wheel.write_bytes(data)
    pieces = cut(wheel, 1000)
    assert [p.name for p in pieces] == [f"{wheel.name}.part0{i}" for i in range(3)]
    assert not wheel.exists() and [p.stat().st_size for p in pieces] == [1000, 1000, 500]
    assert b"".join(p.read_bytes() for p in sorted(pieces)) == data
    small = tmp_path / "small-1.0-py3-none-any.whl"
    small.write_bytes(b"x" * 10)
    assert cut(small, 1000) == [small]


def test_pack_keeps_every_file_once_and_every_batch_under_the_limit(tmp_path: Path) -> None:
    pack = _module().pack
    sizes = [900, 600, 500, 400, 300, 100, 100, 50]
    files = []
    for i, size in enumerate(sizes):
        f = tmp_path / f"f{i}"
        f.write_bytes(b"\0" * size)
        files.append(f)
    batches = pack(files, 1000)
    assert sorted(f for b in batches for f in b) == sorted(files)
    assert all(sum(f.stat().st_size for f in b) <= 1000 for b in batches)
    assert len(batches) == 3  # 2950 bytes need at least three batches of 1000
    with pytest.raises(ValueError, match="larger than a batch"):
        pack(files, 800)
