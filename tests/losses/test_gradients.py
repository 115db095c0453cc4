"""Analytic gradients vs torch autograd, and finite gradients at saturated logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losses import LOSS_NAMES, cross_entropy, get_loss, loss_gradient

from ._helpers import binary_case, multiclass_case


def _autograd(name, x, target, **params):
    xt = torch.tensor(x, requires_grad=True)
    fn = get_loss(name)
    out = fn(xt, **params) if name == "entropy" else fn(xt, torch.as_tensor(target), **params)
    out.sum().backward()
    return xt.grad.numpy()


def test_cross_entropy_gradient_is_prediction_minus_target(rng):
    x, y = binary_case(rng)
    sig = 1 / (1 + np.exp(-np.clip(x, -500, 500)))
    for g in (
        loss_gradient("cross_entropy", x, y, kind="binary", reduction="sum"),
        _autograd("cross_entropy", x, y, kind="binary", reduction="sum"),
    ):
        np.testing.assert_allclose(g, sig - y, atol=1e-12)
    xm, t = multiclass_case(rng)
    soft = np.exp(xm - xm.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    expected = soft - np.eye(xm.shape[1])[t]
    np.testing.assert_allclose(loss_gradient("cross_entropy", xm, t, reduction="sum"), expected, atol=1e-12)
    np.testing.assert_allclose(_autograd("cross_entropy", xm, t, reduction="sum"), expected, atol=1e-12)


_OPTIONS = {
    "cross_entropy": [{}],
    "kl_divergence": [{}],
    "focal": [{"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 2.0, "alpha": None}, {"gamma": 5.0}],
    "focal_star": [{"gamma": 0.5}, {"gamma": 2.0, "beta": 1.0, "alpha": 0.25}],
    "hard_truncated": [{"m": 0.6}],
    "soft_truncated": [{}, {"m": 0.7, "k": 3.0}, {"m": 0.55, "k": 0.5}],
}


@pytest.mark.parametrize("name", [n for n in LOSS_NAMES if n != "entropy"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_loss_gradient_equals_autograd(rng, name, reduction, kind):
    if kind == "binary":
        x, hard = binary_case(rng)
        targets = [hard, rng.random(x.shape)]
    else:
        x, idx = multiclass_case(rng)
        idx[5] = -100
        targets = [idx, rng.dirichlet(np.ones(x.shape[1]), x.shape[0])]
        if name == "kl_divergence":
            targets[0] = np.where(idx < 0, 0, idx)
    for opts in _OPTIONS[name]:
        for target in targets:
            for extra in ({}, {"label_smoothing": 0.1}):
                if name == "kl_divergence" and extra:
                    continue
                params = dict(opts, kind=kind, reduction=reduction, **extra)
                if kind == "multiclass":
                    params["weight"] = rng.uniform(0.5, 2.0, x.shape[1])
                    if name in ("focal", "focal_star") and "alpha" in opts:
                        params["alpha"] = rng.random(x.shape[1])
                grad = loss_gradient(name, x, target, **params)
                auto = _autograd(name, x, target, **params)
                assert np.isfinite(auto).all() and np.isfinite(grad).all()
                np.testing.assert_allclose(grad, auto, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_entropy_gradient(rng, kind):
    x = binary_case(rng)[0] if kind == "binary" else multiclass_case(rng)[0]
    for reduction, base in (("none", None), ("sum", 2.0), ("mean", None)):
        params = dict(kind=kind, from_logits=True, reduction=reduction, base=base)
        expected = _autograd("entropy", x, None, **params)
        np.testing.assert_allclose(loss_gradient("entropy", x, None, **params), expected, atol=1e-12)
        np.testing.assert_allclose(loss_gradient("entropy", x, np.ones(3), **params), expected, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_autograd_is_finite_at_saturated_logits(gamma, dtype):
    x = torch.tensor([-100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0], dtype=dtype)
    xb = x.repeat(2)
    yb = torch.cat([torch.ones(7), torch.zeros(7)]).to(dtype)
    xm = torch.stack([x, -x, torch.zeros_like(x)], dim=-1)  # [7, 3]
    tm = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    calls = [("focal", {"gamma": gamma}), ("soft_truncated", {"k": gamma + 0.25})]
    if gamma > 0:
        calls.append(("focal_star", {"gamma": gamma}))
    for name, params in calls:
        for kind, inp, target in (("binary", xb, yb), ("multiclass", xm, tm)):
            leaf = inp.clone().requires_grad_(True)
            get_loss(name)(leaf, target, kind=kind, reduction="sum", **params).backward()
            assert torch.isfinite(leaf.grad).all(), (name, kind, gamma)


def test_loss_gradient_keeps_type_and_dtype(rng):
    x, y = binary_case(rng, dtype=np.float32)
    g = loss_gradient("focal", x, y)
    assert isinstance(g, np.ndarray) and g.dtype == np.float32 and g.shape == x.shape
    gt = loss_gradient("focal", torch.from_numpy(x), torch.from_numpy(y))
    assert isinstance(gt, torch.Tensor) and gt.dtype == torch.float32
    np.testing.assert_allclose(gt.numpy(), g)
    assert float(cross_entropy(x, y, kind="binary")) > 0
