"""Loss anatomy: the focal-loss paper's figure 4 made visible through the API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from losses import LossInputError, clamped_count, loss_anatomy
from losses.anatomy import FRACTIONS


def _detector_like(rng, n=50_000):
    y = (rng.random(n) < 0.01).astype(np.float64)
    x = np.where(y > 0, rng.normal(1.0, 2.0, n), rng.normal(-4.0, 2.0, n))
    return x, y


def test_focal_concentrates_negative_loss_on_hard_negatives_ce_spreads_it(rng):
    x, y = _detector_like(rng)
    focal = loss_anatomy(x, y, loss="focal", gamma=2.0)
    ce = loss_anatomy(x, y, loss="cross_entropy")
    # the easiest 80% of negatives carry almost nothing under FL, a sizeable share under CE
    i80 = FRACTIONS.index(0.8)
    assert focal.cumulative_negative[i80] < 0.05
    assert ce.cumulative_negative[i80] > 0.15
    assert focal.share_easy < ce.share_easy
    for a in (focal, ce):
        assert a.count == x.size and a.positives + a.negatives == a.count
        assert a.share_positive + a.share_negative == pytest.approx(1.0)
        for curve in (a.cumulative_positive, a.cumulative_negative):
            assert curve[0] == 0.0 and curve[-1] == pytest.approx(1.0)
            assert list(curve) == sorted(curve)
            assert len(curve) == len(FRACTIONS) == 21


def test_anatomy_is_json_ready_and_handles_empty_groups_and_ignored(rng):
    x = rng.normal(size=(10, 3))
    y = np.zeros((10, 3))
    y[0, 0] = -1
    a = loss_anatomy(torch.from_numpy(x), torch.from_numpy(y), loss="focal", ignore_index=-1, reduction="sum")
    d = json.loads(json.dumps(a.to_dict()))
    assert d["positives"] == 0 and d["count"] == 29
    assert d["cumulative_positive"] is None and d["cumulative_negative"][-1] == pytest.approx(1.0)
    assert d["fractions"][:3] == [0.0, 0.05, 0.1]
    with pytest.raises(LossInputError):
        loss_anatomy(x, y * 3)


def test_clamped_count_counts_probabilities_of_exactly_zero_and_one():
    p = np.array([[0.0, 1.0, 0.5], [1e-50, 0.25, 1.0]])
    assert clamped_count(p, from_logits=False) == 4
    assert clamped_count(torch.from_numpy(p), from_logits=False) == 4
    assert clamped_count(np.array([100.0, -100.0]), from_logits=True) == 0
