"""The three questions the ablation answers, computed from its results (pure functions, no judgement).

1. Does focal loss (gamma 2, alpha 0.25) beat the best alpha-balanced CE, and by how many AP points?
2. Does hard truncation need more iterations than soft truncation to reach (90% of) its AP?
3. How is the negatives' loss distributed under CE and under focal loss (paper figure 4)?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .report import SettingResult, best_by_family
from .settings import describe_params

__all__ = ["FOCAL_KEY", "anatomy_lines", "hardest_share", "summary_lines"]

FOCAL_KEY = "fl_g2_a0.25"


def hardest_share(cumulative: Sequence[float] | None, fractions: Sequence[float], top: float) -> float | None:
    """Share of a group's loss carried by its `top` fraction of hardest elements, from the ascending curve."""
    if cumulative is None:
        return None
    for f, c in zip(fractions, cumulative, strict=True):
        if abs(f - (1.0 - top)) < 1e-9:
            return 1.0 - float(c)
    raise ValueError(f"top: 1 - {top} is not one of the anatomy's fractions")


def _pts(v: float) -> str:
    return f"{100.0 * v:.1f}"


def summary_lines(results: Sequence[SettingResult]) -> list[str]:
    """Markdown bullet lines answering questions 1 and 2 (a question is skipped if a setting is missing)."""
    lines: list[str] = []
    by_key = {r.setting.key: r for r in results}
    best = best_by_family(results)
    focal, ce = by_key.get(FOCAL_KEY), best.get("CE")
    if focal is not None and ce is not None:
        diff = 100.0 * (focal.final.ap - ce.final.ap)
        verdict = f"beats it by {diff:.1f} AP points" if diff > 0 else f"is {-diff:.1f} AP points behind it"
        lines.append(
            f"- Focal loss (gamma 2, alpha 0.25) reaches AP {_pts(focal.final.ap)}; the best CE "
            f"({describe_params(ce.setting.params)}) reaches {_pts(ce.final.ap)}: focal {verdict} "
            "(paper: 34.0 vs 31.1, +2.9)."
        )
    hard = [r for r in results if r.setting.family == "hard-truncated CE"]
    soft = [r for r in results if r.setting.family == "soft-truncated CE"]
    for h in hard:
        for s in soft:
            lines.append(
                f"- Hard truncation ({describe_params(h.setting.params)}, final AP {_pts(h.final.ap)}) vs "
                f"soft ({describe_params(s.setting.params)}, final AP {_pts(s.final.ap)}): "
                f"{_race(h, s, 'hard', 'soft')}; {_race(s, h, 'soft', 'hard')}."
            )
    return lines


def _race(a: SettingResult, b: SettingResult, name_a: str, name_b: str) -> str:
    """Iterations each run needs to reach 90% of run `a`'s final AP."""
    goal = 0.9 * a.final.ap
    ia, ib = _first_reaching(a, goal), _first_reaching(b, goal)
    b_text = f"{name_b} {ib}" if ib is not None else f"{name_b} never within {b.iterations}"
    head = f"to reach AP {_pts(goal)} (90% of {name_a}'s final) {name_a} needs {_fmt_it(ia)} iterations"
    return f"{head}, {b_text}"


def _first_reaching(r: SettingResult, goal: float) -> int | None:
    if goal <= 0.0:
        return None
    return next((e.iteration for e in r.evals if e.ap >= goal), None)


def _fmt_it(it: int | None) -> str:
    return "-" if it is None else str(it)


def anatomy_lines(anatomies: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Bullet lines for question 3: share of positives / negatives and of the hardest negatives, per model."""
    lines = []
    for label, a in anatomies.items():
        tail = a.get("tail") or {}
        if tail.get("negative") is not None:
            shares = dict(zip(tail["fractions"], tail["negative"], strict=True))
            pos = dict(zip(tail["fractions"], tail["positive"] or [None] * len(shares), strict=True))
            neg_text = " / ".join(_opt(shares.get(f)) for f in (1e-3, 1e-2, 0.1))
            neg_what = "0.1% / 1% / 10%"
            pos10 = pos.get(0.1)
        else:
            fr = a["fractions"]
            neg_text = " / ".join(_opt(hardest_share(a["cumulative_negative"], fr, f)) for f in (0.1, 0.2))
            neg_what = "10% / 20%"
            pos10 = hardest_share(a["cumulative_positive"], fr, 0.1)
        lines.append(
            f"- {label}: {a['negatives']} negative and {a['positives']} positive elements; negatives carry "
            f"{_opt(a['share_negative'])} of the total loss; the hardest {neg_what} of negatives carry "
            f"{neg_text} of the negatives' loss; the hardest 10% of positives carry {_opt(pos10)} of theirs."
        )
    return lines


def _opt(v: float | None) -> str:
    return "-" if v is None else f"{100.0 * v:.1f}%"
