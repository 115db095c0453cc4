"""Analytic gradients of every loss with respect to the logits (no autograd, no finite differences).

Each loss is a per-sample function of the per-outcome log-probabilities ``logp_k`` and logits ``z_k`` (see
``_dist``), so its gradient is written as the partials ``g_k = dv/dlogp_k`` and ``h_k = dv/dz_k`` (below, per
loss) followed by one vector-Jacobian product to the input logits:

- binary, ``logp = [log s(x), log s(-x)]``, ``z = [x, -x]``: ``dx = g_0 s(-x) - g_1 s(x) + h_0 - h_1``;
- multiclass, ``logp = log_softmax(x)``: ``dx_j = g_j - p_j sum_k g_k``; ``z_c = x_c - logsumexp_{k!=c} x_k``:
  ``dx_j = h_j - p_j sum_{c != j} h_c / (1 - p_c)``, evaluated without forming ``1 / (1 - p)`` at the
  arg-max class (the only one whose ``1 - p`` can vanish).

For ``reduction="none"`` the result is the gradient of the sum of the per-element losses (each element or
row depends on its own logits only, so it is the per-element derivative). Computed in float64, returned in
the input's type and dtype.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from ._dist import Dist, build
from ._reduce import divisor
from ._validate import as_numpy, check_input, check_kind
from .errors import LossInputError
from .focal import _DEFAULT, alpha_per_outcome
from .registry import get_loss
from .types import Array

_Arr = np.ndarray[Any, Any]


def loss_gradient(name: str, input: Any, target: Any, **params: Any) -> Array:
    """d(loss reduced as ``params['reduction']``)/d(logits): same shape, array type and dtype as ``input``.

    ``name`` is one of ``LOSS_NAMES``; ``params`` are that loss's keyword options (validated the same way).
    Logits only: ``from_logits`` must be True (for ``entropy``, pass ``from_logits=True``; its ``target``
    is ignored, so a caller may pass the same labels to every loss).
    """
    fn = get_loss(name)
    signature = inspect.signature(fn)
    try:
        bound = (
            signature.bind(input, target, **params) if name != "entropy" else signature.bind(input, **params)
        )
    except TypeError as exc:
        raise LossInputError("params", f"{name}: {exc}") from None
    bound.apply_defaults()
    opts = dict(bound.arguments)
    if not opts.get("from_logits"):
        raise LossInputError(
            "from_logits", "analytic gradients are with respect to logits: pass from_logits=True"
        )
    fn(input, target, **params) if name != "entropy" else fn(input, **params)  # validates every argument
    x64 = np.asarray(
        as_numpy(check_input(input, from_logits=True, kind=check_kind(opts["kind"]))), np.float64
    )
    grad = _entropy_grad(x64, opts) if name == "entropy" else _loss_grad(name, x64, target, opts)
    return _like(grad, input)


def _like(grad: _Arr, input: Any) -> Array:
    if type(input).__module__.startswith("torch"):
        import torch

        dtype = input.dtype if input.is_floating_point() else torch.get_default_dtype()
        return torch.as_tensor(grad, dtype=dtype, device=input.device)
    dtype = np.asarray(input).dtype
    return grad.astype(dtype if dtype.kind == "f" else np.float64)


def _sample_scale(d: Dist, opts: dict[str, Any]) -> _Arr:
    """d(reduced)/d(per-sample loss) [...]: weight, ignore mask and the reduction's divisor."""
    r = np.ones(d.batch_shape)
    if d.elem_w is not None:
        r = r * d.elem_w
    if d.counted is not None:
        r = np.where(d.counted, r, 0.0)
    norm = opts.get("normalizer")
    norm = None if norm is None else float(as_numpy(norm))
    with np.errstate(invalid="ignore", divide="ignore"):
        return r / np.float64(divisor(d, opts["reduction"], norm))


def _loss_grad(name: str, x: _Arr, target: Any, opts: dict[str, Any]) -> Any:
    d = build(
        x,
        as_numpy(target),
        kind=opts["kind"],
        from_logits=True,
        weight=opts.get("weight"),
        ignore_index=opts.get("ignore_index", -100),
        label_smoothing=opts.get("label_smoothing", 0.0),
    )
    g, h = _partials(name, d, opts)
    r = _sample_scale(d, opts)[..., None]
    return _vjp(d, g * r, None if h is None else h * r)


def _partials(name: str, d: Dist, opts: dict[str, Any]) -> tuple[_Arr, _Arr | None]:
    """Per-outcome partials (g = dv/dlogp, h = dv/dz or None) of the per-sample loss v, [..., K] each."""
    wq = d.weighted_q()
    ce = d.ce()[..., None]
    if name == "cross_entropy":
        return -wq, None
    if name == "kl_divergence":
        return -wq, None
    if name == "hard_truncated":
        m = float(opts["m"])
        lam = 1.0 - np.sum(d.target_above(m) * d.above(m), axis=-1, keepdims=True)
        return -lam * wq, None
    if name == "soft_truncated":
        m, k = float(opts["m"]), float(opts["k"])
        a = k * (d.z() - math.log(m / (1.0 - m)))
        s, s_neg = d.be.sigmoid(a), d.be.sigmoid(-a)  # s_neg = 1 - s without cancellation
        on = d.target_above(m)
        lam = 1.0 - np.sum(on, axis=-1, keepdims=True) + np.sum(on * s_neg, axis=-1, keepdims=True)
        return -lam * wq, -on * k * s * s_neg * ce
    alpha = opts.get("alpha")
    if alpha is _DEFAULT:
        alpha = 0.25 if d.binary else None
    alpha_k = alpha_per_outcome(d, alpha, opts.get("background_class"))
    a = 1.0 if alpha_k is None else d.alpha_t(alpha_k)[..., None]
    if name == "focal":
        gamma = float(opts["gamma"])
        ell = d.log1m_pt()[..., None]
        with np.errstate(divide="ignore"):
            rho = np.exp(np.log1p(-d.q) + d.logp - ell)  # d ell / d logp_k, a softmax weight
        return a * np.exp(gamma * ell) * (gamma * rho * ce - wq), None
    if name == "focal_star":
        gamma, beta = float(opts["gamma"]), float(opts["beta"])
        return np.zeros_like(d.logp), -a * wq * d.be.sigmoid(-(gamma * d.z() + beta))
    raise LossInputError("name", f"no gradient for {name!r}")  # pragma: no cover - LOSS_NAMES are all handled


def _vjp(d: Dist, g: _Arr, h: _Arr | None) -> Any:
    """Chain per-outcome partials to the input logits (see the module docstring)."""
    if d.binary:
        x = d.x
        grad = g[..., 0] * d.be.sigmoid(-x) - g[..., 1] * d.be.sigmoid(x)
        return grad if h is None else grad + h[..., 0] - h[..., 1]
    p = np.exp(d.logp)
    grad = g - p * np.sum(g, axis=-1, keepdims=True)
    if h is None:
        return grad
    is_max = d.be.argmax_onehot(d.logp)
    log1mp = d.logp - d.z()  # log(1 - p_c), finite
    with np.errstate(over="ignore"):
        big_h = np.where(is_max, 0.0, h * np.exp(np.where(is_max, 0.0, -log1mp)))  # h_c / (1 - p_c), c != a
    s_off = np.sum(big_h, axis=-1, keepdims=True)
    h_a = np.sum(np.where(is_max, h, 0.0), axis=-1, keepdims=True)
    log1mp_a = np.sum(np.where(is_max, log1mp, 0.0), axis=-1, keepdims=True)
    off = p * (s_off - big_h) + h_a * np.exp(d.logp - log1mp_a)
    return grad + h - np.where(is_max, p * s_off, off)


def _entropy_grad(x: _Arr, opts: dict[str, Any]) -> Any:
    """H = -sum_k p_k logp_k: dH/dlogp_k = -p_k (logp_k + 1); reductions none/sum/mean; base scales."""
    binary = opts["kind"] == "binary"
    if binary:
        logp = np.stack([-np.logaddexp(0.0, -x), -np.logaddexp(0.0, x)], axis=-1)
    else:
        logp = x - x.max(axis=-1, keepdims=True)
        logp = logp - np.log(np.sum(np.exp(logp), axis=-1, keepdims=True))
    p = np.exp(logp)
    g = -p * (logp + 1.0)
    base = opts.get("base")
    scale = 1.0 if base is None else 1.0 / math.log(float(base))
    if opts["reduction"] == "mean":
        scale /= max(1, int(np.prod(logp.shape[:-1])))
    g = g * scale
    if binary:
        return g[..., 0] * p[..., 1] - g[..., 1] * p[..., 0]
    return g - p * np.sum(g, axis=-1, keepdims=True)
