"""numpy and torch paths agree for every loss x option x reduction; the fused kernels equal the formulas."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from losses import LOSS_NAMES, get_loss
from losses import _kernels as kernels

from ._helpers import binary_case, multiclass_case, to_np

LOSS_OPTIONS = {
    "cross_entropy": [{}],
    "kl_divergence": [{}],
    "focal": [{}, {"gamma": 0.5, "alpha": None}, {"gamma": 0.0, "alpha": 0.0}],
    "focal_star": [{}, {"gamma": 1.0, "beta": 0.0, "alpha": 0.25}],
    "hard_truncated": [{}, {"m": 0.9}],
    "soft_truncated": [{}, {"m": 0.6, "k": 4.0}],
}
SHARED = [{}, {"label_smoothing": 0.1}, {"weight": "w"}, {"ignore": True}]


def _cases(rng, kind):
    if kind == "binary":
        x, y = binary_case(rng, shape=(16, 5))
        return x, [y, rng.random(x.shape)], rng.uniform(0.5, 2.0, x.shape[-1])
    x, t = multiclass_case(rng, n=16, c=5)
    return x, [t, rng.dirichlet(np.ones(5), 16)], rng.uniform(0.5, 2.0, 5)


@pytest.mark.parametrize("name", [n for n in LOSS_NAMES if n != "entropy"])
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_numpy_and_torch_paths_agree(rng, name, kind, from_logits):
    x, targets, w = _cases(rng, kind)
    if not from_logits:
        x = (
            1 / (1 + np.exp(-np.clip(x, -30, 30)))
            if kind == "binary"
            else np.exp(x) / np.exp(x).sum(-1)[:, None]
        )
    reductions = ["none", "sum", "mean", "batchmean"] if name == "kl_divergence" else ["none", "sum", "mean"]
    fn = get_loss(name)
    for opts, shared, target, red in itertools.product(LOSS_OPTIONS[name], SHARED, targets, reductions):
        params = dict(opts, kind=kind, from_logits=from_logits, reduction=red)
        if "weight" in shared:
            params["weight"] = w
        if "label_smoothing" in shared:
            if name == "kl_divergence":
                continue
            params["label_smoothing"] = shared["label_smoothing"]
        if shared.get("ignore"):
            if name == "kl_divergence" or (kind == "multiclass" and target.ndim > 1):
                continue
            target = target.copy()
            target.flat[3] = -1
            params["ignore_index"] = -1
        if name in ("focal", "focal_star") and kind == "multiclass" and params.get("alpha") is not None:
            params["alpha"] = np.linspace(0.1, 0.9, x.shape[1])
        a = fn(x, target, **params)
        b = fn(torch.from_numpy(x), torch.as_tensor(target), **params)
        assert isinstance(a, np.ndarray | np.generic) and isinstance(b, torch.Tensor)
        assert np.shape(a) == tuple(b.shape)
        np.testing.assert_allclose(a, to_np(b), rtol=1e-10, atol=1e-12, err_msg=f"{name} {params}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_focal_kernel_equals_formula(rng, dtype, reduction):
    x, y = binary_case(rng, shape=(300, 500), dtype=dtype)  # several chunks
    soft = rng.random(x.shape).astype(dtype)
    for target, opts in itertools.product(
        (y, soft), ({}, {"gamma": 0.5, "alpha": None}, {"gamma": 0.0}, {"label_smoothing": 0.2})
    ):
        fast = get_loss("focal")(x, target, reduction=reduction, **opts)
        with kernels.disabled():
            slow = get_loss("focal")(x, target, reduction=reduction, **opts)
        assert fast.dtype == slow.dtype == dtype
        tol = dict(rtol=3e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(fast, slow, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_cross_entropy_kernel_equals_formula(rng, dtype, reduction):
    x, t = multiclass_case(rng, n=3000, c=80, dtype=dtype)  # several chunks, one with |x| = 100
    t[10:20] = -100
    for weight, ignore in itertools.product((None, rng.uniform(0.2, 2.0, 80)), (-100, 3)):
        target = t if ignore == -100 else np.where(t < 0, 0, t)  # ignore_index 3: a real class is ignored
        fast = get_loss("cross_entropy")(x, target, weight=weight, reduction=reduction, ignore_index=ignore)
        with kernels.disabled():
            slow = get_loss("cross_entropy")(
                x, target, weight=weight, reduction=reduction, ignore_index=ignore
            )
        assert fast.dtype == slow.dtype == dtype
        tol = dict(rtol=3e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fast, slow, **tol)


def test_kernels_defer_errors_to_the_validating_path(rng):
    x, y = binary_case(rng, shape=(200, 400), dtype=np.float32)
    x[150, 7] = np.nan
    with pytest.raises(ValueError, match="input"):
        get_loss("focal")(x, y)
    xm, t = multiclass_case(rng, n=2000, c=80, dtype=np.float32)
    xm[1500, 3] = -np.inf
    with pytest.raises(ValueError, match="input"):
        get_loss("cross_entropy")(xm, t)
