"""Figures of the ablation (matplotlib, Agg): the paper's figure 1, AP against iterations, loss anatomy.

`figure1_curves` computes the loss of one element against `p_t` with the `losses` library itself (the same
functions that train the detector), so the picture checks the formulas rather than redrawing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from numpy.typing import NDArray

import losses

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = [
    "FIGURE1_CURVES",
    "AnatomyCurves",
    "Curve",
    "figure1_curves",
    "plot_anatomy",
    "plot_ap_curves",
    "plot_figure1",
]


@dataclass(frozen=True)
class Curve:
    """A loss against `p_t`: `losses` name and parameters, the panel it is drawn in (0, 1; -1: both)."""

    label: str
    loss: str
    params: Mapping[str, float | None]
    panel: int


FIGURE1_CURVES: tuple[Curve, ...] = (
    Curve("CE", "cross_entropy", {}, -1),  # drawn in both panels
    Curve("FL gamma=0", "focal", {"gamma": 0.0, "alpha": None}, 0),
    Curve("FL gamma=0.5", "focal", {"gamma": 0.5, "alpha": None}, 0),
    Curve("FL gamma=1", "focal", {"gamma": 1.0, "alpha": None}, 0),
    Curve("FL gamma=2", "focal", {"gamma": 2.0, "alpha": None}, 0),
    Curve("FL gamma=5", "focal", {"gamma": 5.0, "alpha": None}, 0),
    Curve("hard m=0.6", "hard_truncated", {"m": 0.6}, 1),
    Curve("soft m=0.5 K=1", "soft_truncated", {"m": 0.5, "k": 1.0}, 1),
    Curve("soft m=0.5 K=5", "soft_truncated", {"m": 0.5, "k": 5.0}, 1),
    Curve("soft m=0.6 K=1", "soft_truncated", {"m": 0.6, "k": 1.0}, 1),
    Curve("soft m=0.6 K=5", "soft_truncated", {"m": 0.6, "k": 5.0}, 1),
)


def figure1_curves(
    p_t: NDArray[np.float64], curves: Sequence[Curve] = FIGURE1_CURVES
) -> dict[str, NDArray[np.float64]]:
    """The loss of a positive element with probability `p_t [P]` (in (0, 1)) under each curve -> `[P]` each.

    Evaluated from logits `logit(p_t)` with target 1, unreduced, in float64.
    """
    p = np.asarray(p_t, dtype=np.float64)
    if p.ndim != 1 or not ((p > 0) & (p < 1)).all():
        raise ValueError("p_t: must be a 1-D array of probabilities strictly inside (0, 1)")
    x = np.log(p) - np.log1p(-p)  # [P] logits
    y = np.ones_like(x)
    out: dict[str, NDArray[np.float64]] = {}
    for c in curves:
        fn = losses.get_loss(c.loss)
        out[c.label] = np.asarray(fn(x, y, kind="binary", reduction="none", **c.params), dtype=np.float64)
    return out


def plot_figure1(out_png: str | Path, points: int = 400) -> Path:
    """The paper's figure 1 (left) and the truncated cross-entropies against CE (right)."""
    p = np.linspace(0.0, 1.0, points + 2)[1:-1]  # [P]
    values = figure1_curves(p)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for c in FIGURE1_CURVES:
        style = ":" if c.label == "FL gamma=0" else "-"
        for panel in (0, 1) if c.panel < 0 else (c.panel,):
            axes[panel].plot(p, values[c.label], style, label=c.label.replace("gamma", r"$\gamma$"))
    titles = ("cross-entropy and focal loss (paper fig. 1)", "hard and soft truncation")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xlabel("probability of ground truth class $p_t$")
        ax.set_ylim(0, 5)
        ax.set_xlim(0, 1)
        ax.axvspan(0.6, 1.0, color="0.9", zorder=0)
        ax.set_title(title)
        ax.legend()
    axes[0].set_ylabel("loss")
    axes[0].text(0.62, 4.6, "well-classified", color="0.4")
    fig.tight_layout()
    return _save(fig, out_png)


#: Line colours: tab10's ten, each far from the others (tab20 pairs a dark and a pale shade of one hue).
COLOURS = tuple(plt.get_cmap("tab10")(i) for i in range(10))


def plot_ap_curves(
    series: Mapping[str, Sequence[tuple[int, float]]], out_png: str | Path, title: str = ""
) -> Path:
    """Validation AP against iterations: `series[label] = [(iteration, AP fraction), ...]`.

    One panel per loss family (the label's text before the first parameter: "CE alpha 0.75, gamma 0" is in
    "CE"), all on the same axes; within a panel every line has its own tab10 colour and marker. `title` says
    which models and schedule the figure shows.
    """
    families: dict[str, dict[str, Sequence[tuple[int, float]]]] = {}
    for label, points in series.items():
        # a handful of lines read best side by side in one panel; more get a panel per family
        families.setdefault(_family(label) if len(series) > 5 else "", {})[label] = points
    n = max(1, len(families))
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.9 * rows), sharex=True, sharey=True, squeeze=False
    )
    markers = "osD^v<>p*h"
    for ax, (family, members) in zip(axes.flat, families.items(), strict=False):
        for i, (label, points) in enumerate(members.items()):
            it = [p[0] for p in points]
            ap = [100.0 * p[1] for p in points]
            ax.plot(
                it, ap, "-", color=COLOURS[i % 10], marker=markers[i % 10], markersize=4, lw=1.8, label=label
            )
        ax.set_title(family, fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="lower right")
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation COCO AP (%)")
    for ax in list(axes.flat)[len(families) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, out_png)


def _family(label: str) -> str:
    """The loss family of a series label: its words before the first parameter name."""
    words = label.split()
    params = {"alpha", "gamma", "beta", "m", "K", "k"}
    head = words[: next((i for i, w in enumerate(words) if w in params), len(words))]
    return " ".join(head) or label


@dataclass(frozen=True)
class AnatomyCurves:
    """Cumulative normalised loss (paper fig. 4): at `fractions[i]` of the elements, sorted by loss ascending,
    the share of the total loss they hold, for positives and for negatives (each ends at 1). Optionally the
    tail: the share of the negatives' loss held by the hardest `tail_fractions[i]` of negatives."""

    fractions: tuple[float, ...]
    positives: tuple[float, ...]
    negatives: tuple[float, ...]
    tail_fractions: tuple[float, ...] = ()
    tail_negatives: tuple[float, ...] = ()


def plot_anatomy(curves: Mapping[str, AnatomyCurves], out_png: str | Path, title: str = "") -> Path:
    """Panels for positives and negatives (and the negatives' tail, log scale, where given), one line per
    labelled model, each in its own tab10 colour and line style; `title` names the models and schedule."""
    with_tail = any(c.tail_fractions for c in curves.values())
    fig, axes = plt.subplots(1, 3 if with_tail else 2, figsize=(15 if with_tail else 10, 4.6))
    styles = ("-", "--", "-.", ":")
    for i, (label, c) in enumerate(curves.items()):
        look = {"color": COLOURS[i % 10], "ls": styles[i % 4], "lw": 2.0, "label": label}
        axes[0].plot(c.fractions, c.positives, marker=".", **look)
        axes[1].plot(c.fractions, c.negatives, marker=".", **look)
        if c.tail_fractions:
            axes[2].semilogx(c.tail_fractions, c.tail_negatives, marker="o", **look)
    for ax, what in zip(axes[:2], ("foreground (positive)", "background (negative)"), strict=True):
        ax.set_xlabel(f"fraction of {what} elements, sorted by loss")
        ax.set_xlim(0, 1)
        ax.set_ylabel("cumulative normalised loss")
    if with_tail:
        axes[2].set_xlabel("hardest fraction of the negatives (log scale)")
        axes[2].set_ylabel("share of the negatives' loss")
    for ax in axes:
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize=9)
        else:
            ax.text(0.5, 0.5, "no anatomy measured in this run", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, out_png)


def _save(fig: object, out_png: str | Path) -> Path:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return out
