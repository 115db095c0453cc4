"""Throughput of the numpy loss path against the torch reference, on the same data in the same run.

Run: ``.venv/bin/python benchmarks/losses.py [--repeats 11]``. Two cases over 100,000 x 80 float32 logits:
binary focal loss (1% positives, reduction ``sum``) vs the torchvision ``sigmoid_focal_loss`` formula, and
multiclass cross-entropy (class-index targets, ``mean``) vs ``torch.nn.functional.cross_entropy``. Prints
throughput (elements/s, from the median of calls made back to back in alternating blocks: what a busy caller
gets), the numpy/torch ratio of those medians, the same ratio for single calls after a pause ("from idle":
both sides then wake their threads, and on this virtual machine the idle cores too), and each reduced value's
relative error vs float64. The cross-entropy kernel takes its row sums from ONNX Runtime when
it is installed (``losses._ort``); the last row runs it with numpy alone, as on a machine without it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

# This file is named like the package: run as a script, its folder must not shadow `losses`.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
from losses import _ort, cross_entropy, focal_loss  # noqa: E402

PAUSE_S = 0.05


def torchvision_focal(x: torch.Tensor, y: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Any:
    """The published torchvision formula, reduction ``sum``."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    return ((alpha * y + (1 - alpha) * (1 - y)) * loss).sum()


def numpy_only(fn: Callable[[], Any]) -> Any:
    with _ort.disabled():
        return fn()


def sustained_times(
    ours: Callable[[], Any], ref: Callable[[], Any], rounds: int, block: int = 6
) -> tuple[list[float], list[float]]:
    """Wall times of calls made back to back, the throughput a busy caller sees.

    Each round runs a block of calls of one, then of the other (which goes first alternates); the first call
    of each block is dropped, so neither is timed while the other's threads still hold the cores.
    """
    ours(), ref()  # warm-up
    t_ours: list[float] = []
    t_ref: list[float] = []
    for r in range(rounds):
        pairs = ((ours, t_ours), (ref, t_ref))
        for fn, times in pairs if r % 2 == 0 else pairs[::-1]:
            for k in range(block):
                start = time.perf_counter()
                fn()
                if k:
                    times.append(time.perf_counter() - start)
    return t_ours, t_ref


def idle_times(
    ours: Callable[[], Any], ref: Callable[[], Any], repeats: int
) -> tuple[list[float], list[float]]:
    """Wall times of single calls, each after a pause: the latency of a call to an idle machine."""
    t_ours: list[float] = []
    t_ref: list[float] = []
    for _ in range(repeats):
        for fn, times in ((ours, t_ours), (ref, t_ref)):
            time.sleep(PAUSE_S)
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return t_ours, t_ref


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=80)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.rows, args.classes)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = (rng.random(shape) < 0.01).astype(np.float32)
    t = rng.integers(0, args.classes, args.rows)
    xt, yt, tt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(t)
    n = x.size
    cases = [
        (
            "binary focal, sum",
            lambda: focal_loss(x, y, reduction="sum"),
            lambda: torchvision_focal(xt, yt),
            float(torchvision_focal(xt.double(), yt.double())),
        ),
        (
            "multiclass CE, mean",
            lambda: cross_entropy(x, t),
            lambda: F.cross_entropy(xt, tt),
            float(F.cross_entropy(xt.double(), tt)),
        ),
        (
            "multiclass CE, numpy only",
            lambda: numpy_only(lambda: cross_entropy(x, t)),
            lambda: F.cross_entropy(xt, tt),
            float(F.cross_entropy(xt.double(), tt)),
        ),
    ]
    table = Table(title=f"losses: {shape[0]:,} x {shape[1]} float32, torch threads {torch.get_num_threads()}")
    columns = (
        "case",
        "numpy elem/s",
        "torch elem/s",
        "numpy/torch",
        "from idle",
        "numpy rel.err",
        "torch rel.err",
    )
    for col in columns:
        table.add_column(col, justify="right")
    for name, ours, ref, exact in cases:
        busy_ours, busy_ref = sustained_times(ours, ref, args.repeats)
        t_ours, t_ref = statistics.median(busy_ours), statistics.median(busy_ref)
        idle_ours, idle_ref = idle_times(ours, ref, args.repeats)
        err_ours = abs(float(ours()) - exact) / abs(exact)
        err_ref = abs(float(ref()) - exact) / abs(exact)
        table.add_row(
            name,
            f"{n / t_ours:.3g}",
            f"{n / t_ref:.3g}",
            f"{t_ref / t_ours:.2f}x",
            f"{statistics.median(idle_ref) / statistics.median(idle_ours):.2f}x",
            f"{err_ours:.1e}",
            f"{err_ref:.1e}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
