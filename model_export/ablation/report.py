"""What one ablation run produced, and the Markdown table / JSON written from it (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .settings import LossSetting, describe_params

__all__ = [
    "EvalPoint",
    "SettingResult",
    "best_by_family",
    "iterations_to_fraction",
    "markdown_table",
    "results_from_dict",
]


@dataclass(frozen=True)
class EvalPoint:
    """One validation evaluation: COCO AP, AP50 and AP75 (fractions in [0, 1]) after `iteration` steps."""

    iteration: int
    ap: float
    ap50: float
    ap75: float


@dataclass(frozen=True)
class SettingResult:
    """The outcome of training once with one loss setting."""

    setting: LossSetting
    evals: tuple[EvalPoint, ...]
    final_train_loss: float  # cls + box, mean of the last logged iterations
    final_box_loss: float  # the box part alone: the same loss for every setting, so comparable
    seconds: float
    iterations: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> EvalPoint:
        """The last evaluation (all zeros if there was none)."""
        return self.evals[-1] if self.evals else EvalPoint(self.iterations, 0.0, 0.0, 0.0)

    @property
    def iterations_to_90(self) -> int | None:
        return iterations_to_fraction(self.evals, 0.9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting.to_dict(),
            "evals": [vars(e) for e in self.evals],
            "final_train_loss": self.final_train_loss,
            "final_box_loss": self.final_box_loss,
            "seconds": self.seconds,
            "iterations": self.iterations,
            "iterations_to_90": self.iterations_to_90,
            "extra": dict(self.extra),
        }


def results_from_dict(d: dict[str, Any]) -> SettingResult:
    """Inverse of `SettingResult.to_dict` (the derived `iterations_to_90` is recomputed, not read)."""
    s = d["setting"]
    setting = LossSetting(s["key"], s["family"], s["loss"], dict(s["params"]), s["paper_ap"])
    return SettingResult(
        setting=setting,
        evals=tuple(EvalPoint(**e) for e in d["evals"]),
        final_train_loss=float(d["final_train_loss"]),
        final_box_loss=float(d["final_box_loss"]),
        seconds=float(d["seconds"]),
        iterations=int(d["iterations"]),
        extra=dict(d.get("extra", {})),
    )


def iterations_to_fraction(evals: Sequence[EvalPoint], fraction: float) -> int | None:
    """The first evaluated iteration whose AP reaches `fraction` of the final AP; None if the final AP is 0.

    Only evaluated iterations can be reported, so the answer is exact up to the evaluation interval.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction: must be in (0, 1], got {fraction}")
    if not evals or evals[-1].ap <= 0.0:
        return None
    goal = fraction * evals[-1].ap
    return next(e.iteration for e in evals if e.ap >= goal)


def best_by_family(results: Sequence[SettingResult]) -> dict[str, SettingResult]:
    """The result with the highest final AP in each family (first one wins a tie)."""
    best: dict[str, SettingResult] = {}
    for r in results:
        cur = best.get(r.setting.family)
        if cur is None or r.final.ap > cur.final.ap:
            best[r.setting.family] = r
    return best


def _pct(v: float) -> str:
    return f"{100.0 * v:.1f}"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, fmt)


def markdown_table(results: Sequence[SettingResult], *, timing: bool = True) -> str:
    """One row per setting, in the given order. AP columns are percentages, like the paper's.

    `timing=False` leaves out the wall-time column, the one thing a rerun with the same seed changes.
    """
    cols = ["loss", "parameters", "AP", "AP50", "AP75", "paper AP", "final train loss", "final box loss"]
    cols += ["wall s"] if timing else []
    cols += ["iterations", "iters to 90% of final AP"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        f = r.final
        it90 = r.iterations_to_90
        cells = [r.setting.family, describe_params(r.setting.params), _pct(f.ap), _pct(f.ap50), _pct(f.ap75)]
        cells += [_num(r.setting.paper_ap, ".1f"), _num(r.final_train_loss, ".4f")]
        cells += [_num(r.final_box_loss, ".4f")]
        cells += [f"{r.seconds:.0f}"] if timing else []
        cells += [str(r.iterations), "-" if it90 is None else str(it90)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
