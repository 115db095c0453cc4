"""Data-parallel training: two CPU processes (gloo) keep identical weights and learn."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import spawn

from model_export import generate, train

from .conftest import tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        data = {
            "train": Path(root) / "data" / "instances.json",
            "val": Path(root) / "data" / "instances.json",
        }
        cfg = tiny_config(data, Path(root) / "run", max_iterations=4, batch_size=2, val_annotations=None)
        result = train(cfg)
        torch.save(
            {"state": result.model.state_dict(), "history": result.history, "iterations": result.iterations},
            Path(root) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_agree_and_learn(tmp_path: Path) -> None:
    generate(tmp_path / "data", 16, seed=0)
    spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["iterations"] == r1["iterations"] == 4
    for key, value in r0["state"].items():
        assert torch.equal(value, r1["state"][key]), key
    losses = [h["loss"] for h in r0["history"]]
    assert all(math.isfinite(v) for v in losses + [h["loss"] for h in r1["history"]])
    # each rank saw different images: their per-step losses differ, yet their weights stay identical
    assert [h["loss"] for h in r0["history"]] != [h["loss"] for h in r1["history"]]
    assert losses[-1] < losses[0]
    assert (tmp_path / "run" / "metrics.jsonl").exists()  # rank 0 writes; rank 1 does not need to
