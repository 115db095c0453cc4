"""Agreement with torch's losses and the torchvision focal formula, numpy and torch paths, float32/float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from losses import cross_entropy, focal_loss, kl_divergence

from ._helpers import binary_case, multiclass_case, rel, to_np, torchvision_focal

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _both(x):
    """The same data as numpy and as a tensor."""
    return [x, torch.from_numpy(np.array(x))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_binary_cross_entropy_with_logits(rng, dtype, reduction):
    x, y = binary_case(rng, dtype=dtype)
    w = rng.uniform(0.5, 2.0, size=x.shape[-1]).astype(dtype)
    for weight in (None, w):
        tw = None if weight is None else torch.from_numpy(weight)
        ref = F.binary_cross_entropy_with_logits(
            torch.from_numpy(x), torch.from_numpy(y), weight=tw, reduction=reduction
        )
        for xin in _both(x):
            out = cross_entropy(xin, y, kind="binary", weight=weight, reduction=reduction)
            assert out.dtype == (dtype if isinstance(out, np.ndarray | np.generic) else ref.dtype)
            np.testing.assert_allclose(to_np(out), to_np(ref), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_on_probabilities_with_exact_zero_and_one(rng, dtype):
    p = rng.random((30, 4)).astype(dtype)
    p.flat[:6] = [0.0, 1.0, 0.0, 1.0, 0.5, 1e-30]
    y = (rng.random((30, 4)) < 0.5).astype(dtype)
    y.flat[:6] = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    for reduction in ("none", "sum", "mean"):
        ref = F.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(y), reduction=reduction)
        for pin in _both(p):
            out = cross_entropy(pin, y, kind="binary", from_logits=False, reduction=reduction)
            np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-5, atol=1e-5)
    flat = cross_entropy(p, y, kind="binary", from_logits=False, reduction="none").reshape(-1)
    assert flat[0] == pytest.approx(100.0) and flat[1] == pytest.approx(100.0)  # log clamped at -100
    assert flat[2] == 0.0 and flat[3] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_multiclass_cross_entropy_class_indices(rng, dtype, reduction, weighted, smoothing):
    x, t = multiclass_case(rng, dtype=dtype)
    t[3] = t[7] = -100
    w = rng.uniform(0.2, 3.0, x.shape[1]).astype(dtype) if weighted else None
    ref = F.cross_entropy(
        torch.from_numpy(x),
        torch.from_numpy(t),
        weight=None if w is None else torch.from_numpy(w),
        ignore_index=-100,
        label_smoothing=smoothing,
        reduction=reduction,
    )
    for xin in _both(x):
        out = cross_entropy(xin, t, weight=w, label_smoothing=smoothing, reduction=reduction)
        np.testing.assert_allclose(to_np(out), to_np(ref), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_multiclass_cross_entropy_soft_targets(rng, dtype, reduction):
    x, _ = multiclass_case(rng, dtype=dtype)
    q = rng.dirichlet(np.ones(x.shape[1]), x.shape[0]).astype(dtype)
    w = rng.uniform(0.2, 3.0, x.shape[1]).astype(dtype)
    for weight, smoothing in ((None, 0.0), (w, 0.1)):
        ref = F.cross_entropy(
            torch.from_numpy(x),
            torch.from_numpy(q),
            weight=None if weight is None else torch.from_numpy(weight),
            label_smoothing=smoothing,
            reduction=reduction,
        )
        for xin in _both(x):
            out = cross_entropy(xin, q, weight=weight, label_smoothing=smoothing, reduction=reduction)
            np.testing.assert_allclose(to_np(out), to_np(ref), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_divergence_matches_kl_div(rng, dtype):
    x, _ = multiclass_case(rng, dtype=dtype)
    q = rng.dirichlet(np.ones(x.shape[1]), x.shape[0]).astype(dtype)
    q[0] = 0.0
    q[0, 2] = 1.0  # zeros in the target: 0 log 0 = 0
    logq = F.log_softmax(torch.from_numpy(x), dim=-1)
    target = torch.from_numpy(q)
    for xin in _both(x):
        for red in ("batchmean", "sum"):
            np.testing.assert_allclose(
                to_np(kl_divergence(xin, q, reduction=red)),
                to_np(F.kl_div(logq, target, reduction=red)),
                **TOL[dtype],
            )
        per_sample = F.kl_div(logq, target, reduction="none").sum(-1)
        np.testing.assert_allclose(
            to_np(kl_divergence(xin, q, reduction="none")), to_np(per_sample), **TOL[dtype]
        )
    # element 'mean' divides by N * C, so it is not the KL divergence; batchmean is
    element_mean = float(F.kl_div(logq, target, reduction="sum")) / q.size
    assert element_mean == pytest.approx(float(kl_divergence(x, q)) / x.shape[1], rel=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [0.25, None])
def test_focal_matches_torchvision_formula(rng, dtype, gamma, alpha):
    x, y = binary_case(rng, dtype=dtype)
    soft = rng.random(x.shape).astype(dtype)
    for target in (y, soft):
        ref = torchvision_focal(torch.from_numpy(x), torch.from_numpy(target), alpha=alpha, gamma=gamma)
        for xin in _both(x):
            out = focal_loss(xin, target, alpha=alpha, gamma=gamma, reduction="none")
            np.testing.assert_allclose(to_np(out), to_np(ref), **TOL[dtype])
            total = focal_loss(xin, target, alpha=alpha, gamma=gamma, reduction="sum")
            assert rel(to_np(total), to_np(ref.double().sum())) < 1e-5


@pytest.mark.parametrize("name", ["focal", "cross_entropy"])
def test_float32_reduced_value_within_1e6_of_float64(rng, name):
    fn = focal_loss if name == "focal" else cross_entropy
    kind = "binary" if name == "focal" else "multiclass"
    if kind == "binary":
        x = (rng.normal(size=(2000, 80)) * 3).astype(np.float32)
        y = (rng.random(x.shape) < 0.01).astype(np.float32)
    else:
        x = (rng.normal(size=(2000, 80)) * 3).astype(np.float32)
        y = rng.integers(0, 80, 2000)
    exact = float(fn(x.astype(np.float64), y, kind=kind, reduction="sum"))
    for xin in _both(x):
        for red in ("sum", "mean"):
            scale = 1.0 if red == "sum" else (x.size if kind == "binary" else x.shape[0])
            assert rel(float(fn(xin, y, kind=kind, reduction=red)), exact / scale) < 1e-6


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_on_probabilities_with_exact_zero_and_one(rng, gamma):
    p = rng.random((20, 5))
    p.flat[:4] = [0.0, 1.0, 0.0, 1.0]
    y = (rng.random((20, 5)) < 0.5).astype(np.float64)
    y.flat[:4] = [1.0, 0.0, 0.0, 1.0]
    pt, yt = torch.from_numpy(p), torch.from_numpy(y)
    ce = F.binary_cross_entropy(pt, yt, reduction="none")  # log clamped at -100
    p_t = pt * yt + (1 - pt) * (1 - yt)
    ref = (0.25 * yt + 0.75 * (1 - yt)) * ce * (1 - p_t) ** gamma
    for pin in _both(p):
        out = focal_loss(pin, y, gamma=gamma, from_logits=False, reduction="none")
        np.testing.assert_allclose(to_np(out), ref.numpy(), rtol=1e-10, atol=1e-12)
    worst = to_np(focal_loss(p, y, gamma=gamma, from_logits=False, reduction="none")).flat[0]
    assert worst == pytest.approx(25.0)  # p = 0 for a positive: alpha 0.25 * clamped 100 * (1 - 0)^gamma


@pytest.mark.parametrize("dtype", DTYPES)
def test_multiclass_focal_matches_softmax_formula(rng, dtype):
    x, t = multiclass_case(rng, dtype=dtype)
    alpha = rng.random(x.shape[1]).astype(dtype)
    logp = F.log_softmax(torch.from_numpy(x).double(), dim=-1)
    logp_t = logp.gather(1, torch.from_numpy(t)[:, None])[:, 0]
    ref = -torch.from_numpy(alpha).double()[torch.from_numpy(t)] * (1 - logp_t.exp()) ** 2.0 * logp_t
    for xin in _both(x):
        out = focal_loss(xin, t, kind="multiclass", alpha=alpha, gamma=2.0, reduction="none")
        np.testing.assert_allclose(to_np(out), ref.numpy(), **TOL[dtype])
