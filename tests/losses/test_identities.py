"""Information-theory identities, focal/truncation identities and the paper's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losses import (
    cross_entropy,
    entropy,
    focal_loss,
    hard_truncated_cross_entropy,
    kl_divergence,
    soft_truncated_cross_entropy,
)

from ._helpers import binary_case, multiclass_case


def _dists(rng, n=20, c=5):
    p = rng.dirichlet(np.ones(c), n)
    p[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # 0 log 0 = 0
    return p


def test_cross_entropy_of_p_with_itself_is_its_entropy(rng):
    p = _dists(rng)
    h_pp = cross_entropy(p, p, from_logits=False, reduction="none")
    np.testing.assert_allclose(h_pp, entropy(p), atol=1e-9)
    assert entropy(p)[0] == 0.0


def test_cross_entropy_bounds_entropy_and_kl_is_the_gap(rng):
    p, q = _dists(rng), rng.dirichlet(np.ones(5), 20)
    h_pq = cross_entropy(q, p, from_logits=False, reduction="none")
    kl = kl_divergence(q, p, from_logits=False, reduction="none")
    assert np.all(h_pq >= entropy(p) - 1e-12)
    assert np.all(kl >= 0)
    np.testing.assert_allclose(kl, h_pq - entropy(p), atol=1e-9)
    np.testing.assert_allclose(kl_divergence(p, p, from_logits=False, reduction="none"), 0.0, atol=1e-12)
    assert float(kl_divergence(q, p, from_logits=False)) > 0


def test_binary_entropy_in_bits_and_from_logits(rng):
    np.testing.assert_allclose(entropy(np.array([0.5, 0.0, 1.0]), kind="binary", base=2), [1.0, 0.0, 0.0])
    x = rng.normal(size=(10, 4))
    p = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    np.testing.assert_allclose(entropy(x, from_logits=True), entropy(p), atol=1e-12)
    assert float(entropy(p, reduction="sum")) == pytest.approx(float(np.sum(entropy(p))))


def test_mean_nll_is_cross_entropy_with_the_one_hot_empirical_distribution(rng):
    x, t = multiclass_case(rng, extreme=False)
    logq = x - np.log(np.exp(x).sum(-1, keepdims=True))
    mean_nll = -np.mean(logq[np.arange(len(t)), t])
    empirical = np.eye(x.shape[1])[t]
    assert float(cross_entropy(x, t)) == pytest.approx(mean_nll, rel=1e-12)
    assert float(cross_entropy(x, empirical)) == pytest.approx(mean_nll, rel=1e-12)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_focal_with_gamma_zero_and_no_alpha_is_cross_entropy(rng, kind):
    x, y = binary_case(rng) if kind == "binary" else multiclass_case(rng)
    for red in ("none", "sum", "mean"):
        np.testing.assert_allclose(
            focal_loss(x, y, kind=kind, gamma=0.0, alpha=None, reduction=red),
            cross_entropy(x, y, kind=kind, reduction=red),
            rtol=1e-9,
        )


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_soft_truncation_k1_m_half_is_focal_gamma_one(rng, kind):
    x, y = binary_case(rng) if kind == "binary" else multiclass_case(rng)
    np.testing.assert_allclose(
        soft_truncated_cross_entropy(x, y, kind=kind, k=1.0, m=0.5, reduction="none"),
        focal_loss(x, y, kind=kind, gamma=1.0, alpha=None, reduction="none"),
        rtol=1e-10,
        atol=1e-300,
    )


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_soft_truncation_tends_to_hard_as_k_grows(rng, kind):
    x, y = binary_case(rng, extreme=False) if kind == "binary" else multiclass_case(rng, extreme=False)
    hard = hard_truncated_cross_entropy(x, y, kind=kind, m=0.6, reduction="none")
    gaps = [
        np.max(np.abs(soft_truncated_cross_entropy(x, y, kind=kind, m=0.6, k=k, reduction="none") - hard))
        for k in (1.0, 10.0, 100.0, 1e4)
    ]
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[-1] < 1e-3 * np.max(hard)


def test_truncations_give_one_half_exactly_at_the_margin():
    m = 0.6
    x = np.array([math.log(m / (1 - m)), -math.log(m / (1 - m))])  # p_t == m for target 1, then target 0
    y = np.array([1.0, 0.0])
    ce = cross_entropy(x, y, kind="binary", reduction="none")
    np.testing.assert_allclose(hard_truncated_cross_entropy(x, y, m=m, reduction="none"), ce / 2)
    np.testing.assert_allclose(soft_truncated_cross_entropy(x, y, m=m, k=50.0, reduction="none"), ce / 2)
    p = np.array([m, 1 - m])  # probabilities: exactly at the margin too
    np.testing.assert_allclose(
        hard_truncated_cross_entropy(p, y, m=m, from_logits=False, reduction="none"),
        cross_entropy(p, y, kind="binary", from_logits=False, reduction="none") / 2,
    )


def test_hard_truncation_drops_confident_elements_both_labels():
    p = np.array([0.7, 0.5, 0.3, 0.5])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    out = hard_truncated_cross_entropy(p, y, from_logits=False, m=0.6, reduction="none")
    assert out[0] == 0.0 and out[2] == 0.0
    assert out[1] > 0 and out[3] > 0


@pytest.mark.parametrize(("p_t", "factor"), [(0.9, 100.0), (0.968, 1.0 / (0.032**2))])
def test_paper_focal_is_100x_and_1000x_lower_than_ce(p_t, factor):
    x = np.array([math.log(p_t / (1 - p_t))])
    y = np.array([1.0])
    ratio = cross_entropy(x, y, kind="binary", reduction="sum") / focal_loss(
        x, y, gamma=2.0, alpha=None, reduction="sum"
    )
    assert float(ratio) == pytest.approx(factor, rel=1e-9)
    assert (p_t == 0.9 and round(float(ratio)) == 100) or (p_t == 0.968 and 950 < float(ratio) < 1000)


def test_multiclass_scalar_alpha_with_background_class(rng):
    x, t = multiclass_case(rng, extreme=False)
    vec = np.full(x.shape[1], 0.25)
    vec[0] = 0.75
    np.testing.assert_allclose(
        focal_loss(x, t, kind="multiclass", alpha=0.25, background_class=0, reduction="none"),
        focal_loss(x, t, kind="multiclass", alpha=vec, reduction="none"),
    )


def test_alpha_zero_is_a_weight_not_off(rng):
    x, y = binary_case(rng)
    out = focal_loss(x, y, alpha=0.0, reduction="none")
    assert np.all(out[y == 1] == 0) and np.all(out[y == 0] > 0)
