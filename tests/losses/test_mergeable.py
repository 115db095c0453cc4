"""Mergeable score state: any split of the data and any merge order give the one-shot answer."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losses
from losses import LossInputError, ScoreSpec, ScoreState
from losses._anatomy_bins import AnatomyBins
from losses._dist import build
from losses._reduce import divisor, mean_weights

REL = 1e-12

BINARY_LOSSES = [
    ("focal", {}),
    ("focal", {"alpha": None, "gamma": 0.5, "reduction": "sum", "normalizer": 7}),
    ("cross_entropy", {"reduction": "sum"}),
    ("focal_star", {"gamma": 3.0, "beta": 0.5}),
    ("hard_truncated", {"m": 0.7}),
    ("soft_truncated", {"m": 0.6, "k": 4.0}),
    ("kl_divergence", {}),
    ("entropy", {"reduction": "mean"}),
]
MULTICLASS_LOSSES = [
    ("focal", {"alpha": [0.1, 0.2, 0.3, 0.4], "ignore_index": -1}),
    ("cross_entropy", {"weight": [1.0, 2.0, 0.5, 3.0], "ignore_index": -1}),
    ("cross_entropy", {"label_smoothing": 0.1, "ignore_index": -1, "reduction": "sum"}),
    ("hard_truncated", {"ignore_index": -1}),
]


def _data(seed: int, n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "binary":
        x = rng.normal(0.0, 3.0, (n, 3))
        return x, (rng.random((n, 3)) < 0.3).astype(np.float64)
    x = rng.normal(0.0, 2.0, (n, 4))
    y = rng.integers(0, 4, n)
    y[rng.random(n) < 0.1] = -1
    return x, y


def _one_shot(name: str, params: dict, x: np.ndarray, y: np.ndarray, kind: str) -> float:
    fn = losses.get_loss(name)
    args = (x,) if name == "entropy" else (x, y)
    return float(fn(*args, kind=kind, from_logits=True, **params))


def _close(a: float | None, b: float) -> bool:
    assert a is not None
    return abs(a - b) <= REL * max(abs(b), 1e-300)


def _merge_in_random_order(states: list[ScoreState], rnd: random.Random) -> ScoreState:
    pool = list(states)
    while len(pool) > 1:
        i, j = rnd.sample(range(len(pool)), 2)
        merged = pool[i].merge(pool[j]) if rnd.random() < 0.5 else pool[j].merge(pool[i])
        pool = [s for k, s in enumerate(pool) if k not in (i, j)] + [merged]
    return pool[0]


@pytest.mark.parametrize(("kind", "specs"), [("binary", BINARY_LOSSES), ("multiclass", MULTICLASS_LOSSES)])
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3000),
    cuts=st.lists(st.floats(0, 1), max_size=6),
    order_seed=st.integers(0, 1000),
)
def test_any_split_and_merge_order_gives_the_one_shot_values(kind, specs, seed, n, cuts, order_seed) -> None:
    x, y = _data(seed, n, kind)
    spec = ScoreSpec.build(specs, kind=kind, per_class=True, calibration_bins=10, anatomy=kind == "binary")
    bounds = sorted({0, n, *(int(c * n) for c in cuts)})
    states = [ScoreState(spec).update(x[a:b], y[a:b]) for a, b in itertools.pairwise(bounds)]
    # a stored state (JSON bytes) is the same state
    states = [ScoreState.from_bytes(s.to_bytes()) for s in states]
    merged = _merge_in_random_order(states, random.Random(order_seed))
    other = _merge_in_random_order(states, random.Random(order_seed + 1))
    whole = ScoreState(spec).update(x, y)
    result = merged.result()
    assert result == other.result()  # merge order: exactly the same answer
    assert result["chunks"] == len(states) and result["elements"] == x.size
    for (name, params), got, full in zip(specs, result["losses"], whole.result()["losses"], strict=True):
        expected = _one_shot(name, params, x, y, kind)
        if math.isnan(expected):  # a mean over nothing counted
            assert got["value"] is None
            continue
        assert _close(got["value"], expected), (name, got, expected)
        assert _close(full["value"], expected)
    # the breakdowns of any split equal the unsplit state's within 1e-12
    for key in ("per_class", "calibration", "anatomy"):
        if key not in result:
            continue
        a, b = json.dumps(result[key]), json.dumps(whole.result()[key])
        _assert_nested_close(json.loads(a), json.loads(b))


def _assert_nested_close(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_nested_close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _assert_nested_close(u, v)
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= REL * max(abs(a), abs(b), 1e-300) + 1e-300
    else:
        assert a == b


def test_mean_weights_are_the_divisor_of_the_one_shot_mean() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    y = rng.integers(0, 4, 50)
    y[::7] = -1
    for weight in (None, [1.0, 2.0, 0.5, 3.0]):
        d = build(
            x, y, kind="multiclass", from_logits=True, weight=weight, ignore_index=-1, label_smoothing=0.0
        )
        expected = float(divisor(d, "mean", None))
        assert math.fsum(mean_weights("multiclass", x, y, weight, -1).ravel()) == expected
    yb = (rng.random((50, 4)) < 0.5).astype(np.int64)
    yb[0, 0] = -100
    d = build(x, yb, kind="binary", from_logits=True, weight=None, ignore_index=-100, label_smoothing=0.0)
    assert mean_weights("binary", x, yb, None, -100).sum() == float(divisor(d, "mean", None))


def test_per_class_values_are_the_losses_of_each_class() -> None:
    x, y = _data(5, 2000, "multiclass")
    spec = ScoreSpec.build(MULTICLASS_LOSSES[:2], kind="multiclass", per_class=True)
    rows = ScoreState(spec).update(x[:700], y[:700]).merge(ScoreState(spec).update(x[700:], y[700:]))
    for row in rows.result()["per_class"]:
        mask = y == row["class"]
        assert row["count"] == int(mask.sum())
        for (name, params), value in zip(MULTICLASS_LOSSES[:2], row["losses"], strict=True):
            assert _close(value["mean"], _one_shot(name, params, x[mask], y[mask], "multiclass"))


def test_the_anatomy_is_exact_at_the_bin_edges_and_its_shares_are_the_one_shot_shares() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    y = (rng.random(n) < 0.05).astype(np.float64)
    x = np.where(y > 0, rng.normal(1.0, 2.0, n), rng.normal(-4.0, 2.0, n))
    spec = ScoreSpec.build([("focal", {"gamma": 2.0})], anatomy=True)
    parts = [ScoreState(spec).update(x[a : a + 3000], y[a : a + 3000]) for a in range(0, n, 3000)]
    got = _merge_in_random_order(parts, random.Random(0)).result()["anatomy"]
    ref = losses.loss_anatomy(x, y, loss="focal", gamma=2.0)
    for key in ("share_positive", "share_negative", "share_easy", "total"):
        assert _close(got[key], getattr(ref, key))
    assert (got["count"], got["positives"], got["easy"]) == (ref.count, ref.positives, ref.easy)
    values = np.asarray(losses.focal_loss(x, y, gamma=2.0, reduction="none"))
    for name, mask in (("positive", y > 0.5), ("negative", y <= 0.5)):
        ordered = np.cumsum(np.sort(values[mask])) / values[mask].sum()
        curve = got[f"curve_{name}"]
        for frac, loss_frac in zip(curve["elements"], curve["loss"], strict=True):
            k = round(frac * mask.sum())
            expected = 0.0 if k == 0 else ordered[k - 1]
            assert abs(loss_frac - expected) <= 1e-12
        # the interpolated curve at the one-shot fractions is close to the one-shot (bins are 0.25 wide)
        np.testing.assert_allclose(got[f"cumulative_{name}"], getattr(ref, f"cumulative_{name}"), atol=0.02)


def test_calibration_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, (3000, 5))
    y = rng.integers(0, 5, 3000)
    spec = ScoreSpec.build([("cross_entropy", {})], kind="multiclass", calibration_bins=15)
    got = ScoreState(spec).update(x[:1000], y[:1000]).merge(ScoreState(spec).update(x[1000:], y[1000:]))
    cal = got.result()["calibration"]
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    conf, correct = p.max(-1), (p.argmax(-1) == y).astype(float)
    b = np.minimum((conf * 15).astype(int), 14)
    gaps = [abs(correct[b == i].mean() - conf[b == i].mean()) for i in range(15) if (b == i).any()]
    weights = [(b == i).sum() for i in range(15) if (b == i).any()]
    assert _close(cal["ece"], float(np.dot(gaps, weights) / 3000))
    assert _close(cal["mce"], float(max(gaps)))
    assert sum(r["count"] for r in cal["reliability"]) == 3000


def test_normalizers_given_per_chunk_add_up_and_batchmean_adds_samples() -> None:
    x, y = _data(1, 100, "binary")
    spec = ScoreSpec.build([("focal", {"reduction": "sum"}), ("kl_divergence", {})])
    a = ScoreState(spec).update(x[:40], y[:40], normalizer=3)
    b = ScoreState(spec).update(x[40:], y[40:], normalizer=5)
    result = a.merge(b).result()["losses"]
    assert _close(result[0]["value"], float(losses.focal_loss(x, y, reduction="sum", normalizer=8)))
    assert _close(result[1]["value"], float(losses.kl_divergence(x, y, kind="binary")))


def test_bad_specs_and_states_are_refused_naming_the_argument() -> None:
    with pytest.raises(LossInputError, match="reduction"):
        ScoreSpec.build([("focal", {"reduction": "none"})])
    with pytest.raises(LossInputError, match="calibration_bins"):
        ScoreSpec.build([("focal", {})], calibration_bins=0)
    with pytest.raises(LossInputError, match="anatomy"):
        ScoreSpec.build([("focal", {})], kind="multiclass", anatomy=True)
    with pytest.raises(LossInputError, match="name"):
        ScoreSpec.build([("nope", {})])
    a = ScoreState(ScoreSpec.build([("focal", {})]))
    with pytest.raises(LossInputError, match="state"):
        a.merge(ScoreState(ScoreSpec.build([("focal", {"gamma": 1.0})])))
    with pytest.raises(LossInputError, match="state"):
        ScoreState.from_dict({**a.to_dict(), "version": 99})
    with pytest.raises(LossInputError, match="target"):
        a.update(np.zeros(3), np.full(3, 2.0))
    wide = ScoreState(ScoreSpec.build([("focal", {})], per_class=True))
    with pytest.raises(LossInputError, match="per_class"):
        wide.update(np.zeros((1, 5000)), np.zeros((1, 5000)))


def test_an_empty_anatomy_has_no_curves() -> None:
    result = AnatomyBins().result("focal")
    assert result["count"] == 0 and result["cumulative_positive"] is None and result["share_easy"] is None
