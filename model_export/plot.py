"""A PNG of the loss curves and the validation mAP of a run (matplotlib, Agg backend)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["plot_metrics"]


def plot_metrics(metrics_file: str | Path, out_png: str | Path) -> Path:
    """Read a metrics JSON-lines log and write the two-panel plot; returns the PNG path."""
    train: list[dict[str, float]] = []
    evals: list[dict[str, float]] = []
    for line in Path(metrics_file).read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            (train if rec.get("type") == "train" else evals).append(rec)
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(10, 4))
    it = [r["iteration"] for r in train]
    for key in ("loss", "cls", "box"):
        ax_loss.plot(it, [r[key] for r in train], label=key)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss (per positive anchor)")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    ev_it = [r["iteration"] for r in evals]
    for key in ("mAP", "mAP50", "mAP75"):
        ax_map.plot(ev_it, [r[key] for r in evals], marker="o", label=key)
    ax_map.set_xlabel("iteration")
    ax_map.set_ylabel("validation COCO AP")
    ax_map.set_ylim(0, 1)
    ax_map.legend()
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
