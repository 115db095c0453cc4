"""The ablation's pure parts: settings, table, iterations-to-90%, summary lines, figure-1 curves, plots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_export.ablation.report import (
    EvalPoint,
    SettingResult,
    best_by_family,
    iterations_to_fraction,
    markdown_table,
    results_from_dict,
)
from model_export.ablation.settings import SETTINGS, LossSetting, describe_params
from model_export.ablation.summary import anatomy_lines, hardest_share, summary_lines
from model_export.figures import AnatomyCurves, figure1_curves, plot_anatomy, plot_ap_curves, plot_figure1
from model_export.head import CLASSIFICATION_LOSSES, resolve_loss


def _result(key: str, aps: list[float], every: int = 10) -> SettingResult:
    setting = next(s for s in SETTINGS if s.key == key)
    evals = tuple(EvalPoint(every * (i + 1), a, min(1.0, 2 * a), a / 2) for i, a in enumerate(aps))
    return SettingResult(setting, evals, 0.5, 0.1, 12.3, every * len(aps))


def test_thirteen_settings_with_unique_keys_and_known_losses():
    assert len(SETTINGS) == 13
    assert len({s.key for s in SETTINGS}) == 13
    for s in SETTINGS:
        assert s.loss in CLASSIFICATION_LOSSES
        resolve_loss(s.loss, s.params)
    families = [s.family for s in SETTINGS]
    assert (
        families.count("CE") == 3
        and families.count("focal") == 4
        and families.count("soft-truncated CE") == 4
    )
    paper = {s.key: s.paper_ap for s in SETTINGS}
    assert paper["fl_g2_a0.25"] == 34.0 and paper["ce_a0.75"] == 31.1 and paper["flstar_g2_b1"] == 33.8
    assert paper["hard_m0.6"] is None


def test_describe_params_sorted_and_k_capitalised():
    assert describe_params({"m": 0.5, "k": 5.0}) == "K 5, m 0.5"
    assert describe_params({"gamma": 2.0, "alpha": 0.25}) == "alpha 0.25, gamma 2"
    assert describe_params({}) == "-"


def test_iterations_to_fraction():
    evals = [
        EvalPoint(10, 0.1, 0, 0),
        EvalPoint(20, 0.5, 0, 0),
        EvalPoint(30, 0.46, 0, 0),
        EvalPoint(40, 0.5, 0, 0),
    ]
    assert iterations_to_fraction(evals, 0.9) == 20  # 0.9 * 0.5 = 0.45, first reached at 20
    assert iterations_to_fraction(evals, 0.1) == 10
    assert iterations_to_fraction(evals, 1.0) == 20
    assert iterations_to_fraction([EvalPoint(10, 0.0, 0, 0)], 0.9) is None
    assert iterations_to_fraction([], 0.9) is None
    with pytest.raises(ValueError, match="fraction"):
        iterations_to_fraction(evals, 0.0)


def test_markdown_table_has_a_row_per_setting_and_optional_timing():
    results = [_result(s.key, [0.1, 0.2 + 0.01 * i]) for i, s in enumerate(SETTINGS)]
    table = markdown_table(results)
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 13
    assert "| wall s |" in lines[0]
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert lines[2].startswith("| CE | alpha 0.25, gamma 0 | 20.0 | 40.0 | 10.0 | 10.8 |")
    untimed = markdown_table(results, timing=False)
    assert "wall s" not in untimed and "12" not in untimed.splitlines()[2].split("|")[9]
    assert untimed.splitlines()[0].count("|") == lines[0].count("|") - 1


def test_result_dict_round_trip():
    r = _result("soft_m0.6_k5", [0.05, 0.3, 0.31])
    back = results_from_dict(r.to_dict())
    assert back == r
    assert r.to_dict()["iterations_to_90"] == 20


def test_best_by_family_and_summary_lines():
    results = [
        _result("ce_a0.25", [0.1, 0.2]),
        _result("ce_a0.75", [0.2, 0.3]),
        _result("fl_g2_a0.25", [0.3, 0.35]),
        _result("hard_m0.6", [0.0, 0.05, 0.3], every=10),
        _result("soft_m0.5_k1", [0.3, 0.32, 0.33], every=10),
    ]
    best = best_by_family(results)
    assert best["CE"].setting.key == "ce_a0.75"
    lines = summary_lines(results)
    assert "reaches AP 35.0" in lines[0] and "(alpha 0.75, gamma 0) reaches 30.0" in lines[0]
    assert "focal beats it by 5.0 AP points" in lines[0]
    # hard: 0, 5, 30 (final 30); soft: 30, 32, 33 (final 33), evaluated at 10, 20, 30.
    assert "to reach AP 27.0 (90% of hard's final) hard needs 30 iterations, soft 10" in lines[1]
    assert "to reach AP 29.7 (90% of soft's final) soft needs 10 iterations, hard 30" in lines[1]
    never = summary_lines([_result("hard_m0.6", [0.01, 0.02]), _result("soft_m0.5_k5", [0.2, 0.3])])
    assert "soft needs 20 iterations, hard never within 20" in never[0]
    worse = summary_lines([_result("ce_a0.5", [0.4]), _result("fl_g2_a0.25", [0.3])])
    assert "focal is 10.0 AP points behind it" in worse[0]


def test_hardest_share_and_anatomy_lines():
    fr = [round(0.05 * i, 2) for i in range(21)]
    flat = [f for f in fr]  # loss spread evenly: the hardest 10% hold 10%
    assert hardest_share(flat, fr, 0.1) == pytest.approx(0.1)
    assert hardest_share(None, fr, 0.1) is None
    with pytest.raises(ValueError, match="top"):
        hardest_share(flat, fr, 0.123)
    a = {
        "fractions": fr,
        "cumulative_negative": flat,
        "cumulative_positive": flat,
        "share_negative": 0.75,
        "negatives": 90,
        "positives": 10,
    }
    (line,) = anatomy_lines({"m": a})
    assert "negatives carry 75.0% of the total loss" in line and "carry 10.0% / 20.0%" in line


def test_figure1_curves_follow_the_spec_identities():
    p = np.array([0.1, 0.3, 0.59, 0.61, 0.9, 0.968])
    c = figure1_curves(p)
    ce = -np.log(p)
    np.testing.assert_allclose(c["CE"], ce, rtol=1e-12)
    np.testing.assert_allclose(c["FL gamma=0"], ce, rtol=1e-12)
    np.testing.assert_allclose(c["FL gamma=2"], (1 - p) ** 2 * ce, rtol=1e-9)
    np.testing.assert_allclose(c["soft m=0.5 K=1"], c["FL gamma=1"], rtol=1e-9)
    assert c["CE"][4] / c["FL gamma=2"][4] == pytest.approx(100.0)  # the paper's p_t = 0.9 fact
    hard = c["hard m=0.6"]
    np.testing.assert_allclose(hard[:3], ce[:3])
    assert hard[3] == 0.0 and hard[4] == 0.0 and hard[5] == 0.0  # confidently right: not learned from
    for g in ("0.5", "1", "2", "5"):
        assert (c[f"FL gamma={g}"] <= ce + 1e-15).all()
    with pytest.raises(ValueError, match="p_t"):
        figure1_curves(np.array([0.0, 0.5]))


def test_plots_write_pngs(tmp_path):
    fig1 = plot_figure1(tmp_path / "f1.png", points=50)
    ap = plot_ap_curves({"a": [(10, 0.1), (20, 0.2)], "b": [(10, 0.05), (20, 0.3)]}, tmp_path / "ap.png")
    fr = tuple(round(0.05 * i, 2) for i in range(21))
    curve = tuple(f**3 for f in fr)
    an = plot_anatomy({"m": AnatomyCurves(fr, curve, curve)}, tmp_path / "sub" / "an.png")
    empty = plot_anatomy({}, tmp_path / "empty.png")  # a run without the anatomy models: no legend warning
    for path in (fig1, ap, an, empty):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5_000


def test_loss_setting_dict():
    s = LossSetting("k", "focal", "focal", {"gamma": 2.0}, 34.0)
    assert s.to_dict() == {
        "key": "k",
        "family": "focal",
        "loss": "focal",
        "params": {"gamma": 2.0},
        "paper_ap": 34.0,
    }
    assert math.isclose(SETTINGS[5].params["gamma"], 2.0)


def test_fingerprint_ignores_the_selection_but_not_the_schedule():
    from dataclasses import replace

    from model_export.ablation.runner import FULL, QUICK, with_settings

    assert with_settings(FULL, ["hard_m0.6"]).fingerprint() == FULL.fingerprint()
    assert replace(FULL, iterations=FULL.iterations + 1).fingerprint() != FULL.fingerprint()
    assert replace(FULL, seed=1).fingerprint() != FULL.fingerprint()
    assert QUICK.fingerprint() != FULL.fingerprint()
    with pytest.raises(ValueError, match="settings"):
        with_settings(FULL, ["nope"]).selected()


def test_tail_shares_and_tail_lines():
    from model_export.ablation.anatomy import TAIL_FRACTIONS, tail_shares

    values = np.concatenate([np.full(9990, 0.001), np.full(10, 1.0)])  # 10 hard elements in 10 000
    shares = dict(zip(TAIL_FRACTIONS, tail_shares(values), strict=True))
    assert shares[1e-3] == pytest.approx(10.0 / 19.99)  # the hardest 0.1% are the 10 hard ones
    assert shares[1e-4] == pytest.approx(1.0 / 19.99)
    assert shares[1.0] == pytest.approx(1.0)
    assert tail_shares(np.zeros(5)) is None and tail_shares(np.zeros(0)) is None
    a = {
        "negatives": 10000,
        "positives": 3,
        "share_negative": 0.5,
        "tail": {"fractions": list(TAIL_FRACTIONS), "negative": tail_shares(values), "positive": None},
    }
    (line,) = anatomy_lines({"m": a})
    assert "hardest 0.1% / 1% / 10% of negatives carry 50.0% / " in line
    assert "positives carry - of theirs" in line


def test_many_curves_get_a_panel_per_family_and_distinct_colours(tmp_path):
    from model_export.figures import COLOURS, _family

    assert _family("CE alpha 0.75, gamma 0") == "CE"
    assert _family("soft-truncated CE K 1, m 0.5") == "soft-truncated CE"
    assert _family("hard-truncated CE m 0.6") == "hard-truncated CE"
    assert _family("FL* alpha 0.25, beta 1, gamma 2") == "FL*"
    assert len(set(COLOURS)) == 10
    series = {
        f"{fam} alpha {a}": [(10, 0.1 * a), (20, 0.2 * a)] for fam in ("CE", "focal") for a in (1, 2, 3)
    }
    path = plot_ap_curves(series, tmp_path / "ap.png", title="400 iterations, seed 0")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_finished_runs_figures_are_redrawn_from_its_files(tmp_path):
    """The committed 2000-iteration run: its figures come back from results.json and anatomy.json alone."""
    import shutil
    from pathlib import Path

    from model_export.ablate import redraw_figures

    src = Path(__file__).resolve().parents[2] / "results" / "ablation" / "long_schedule_2000"
    for name in ("results.json", "anatomy.json"):
        shutil.copy(src / name, tmp_path / name)
    written = redraw_figures(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        ["ap_vs_iterations.png", "figure1.png", "anatomy.png", "anatomy_by_gamma.png"]
    )
    for p in written:
        assert p.stat().st_size > 5_000
