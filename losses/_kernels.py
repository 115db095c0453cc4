"""Fused numpy fast paths for the two hot losses: binary focal and multiclass cross-entropy from logits.

The input is cut into cache-sized chunks and each chunk runs a short sequence of numpy ufuncs (SIMD
``exp``/``log1p``) in place, on a pool of threads (numpy releases the GIL), then is summed in float64. We
measured ``numexpr`` too: without Intel VML it evaluates these transcendentals with scalar libm (and
upcasts to float64), several times slower here, so the chunked ufuncs are the kernel. For float32
cross-entropy the row sums of exponentials come from ONNX Runtime when it is installed (`losses._ort`): its
vectorised ``Exp`` is several times cheaper than numpy's, and ``exp`` is nearly all of that loss's cost.

Each function returns None when it does not apply, and also when a chunk finds anything to complain about
(non-finite logits, targets out of range; binary: ignored targets): the generic path then handles it or raises
the proper ``LossInputError``. The parity tests compare both paths; ``disabled()`` turns the kernels off.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from . import _ort
from ._switch import switched_off
from ._validate import check_weight

CHUNK = 65536  # elements per chunk: inputs + temporaries stay in L2
_LOG2E = 1.4426950408889634  # exp(v) = exp2(v log2 e); numpy's SIMD exp2 is much faster than its exp
CE_CHUNK = 163840  # elements per cross-entropy chunk (whole rows)
_state: dict[str, Any] = {"enabled": True, "pool": None}
_local = threading.local()
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_Arr = np.ndarray[Any, Any]


def disabled() -> AbstractContextManager[None]:
    """Run the generic formulas only (for parity tests and benchmarks)."""
    return switched_off(_state)


def _map(fn: Callable[[int], Any], starts: range) -> list[Any]:
    """``[fn(i) for i in starts]``, the chunks split into one contiguous run per worker thread."""
    workers = _WORKERS
    if len(starts) <= 1 or workers == 1:
        return [fn(i) for i in starts]
    if _state["pool"] is None:
        _state["pool"] = ThreadPoolExecutor(workers, thread_name_prefix="losses")
    per = -(-len(starts) // workers)  # ceil
    runs = [starts[k : k + per] for k in range(0, len(starts), per)]
    parts = list(_state["pool"].map(lambda run: [fn(i) for i in run], runs))
    return [v for part in parts for v in part]


def _buffer(size: int, dtype: Any) -> _Arr:
    """A scratch array of at least ``size`` elements, one per thread and dtype (no page faults per chunk)."""
    key = f"buf_{np.dtype(dtype).str}"
    buf: _Arr | None = getattr(_local, key, None)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        setattr(_local, key, buf)
    return buf[:size]


def _plain(x: Any) -> bool:
    return type(x) is np.ndarray and x.dtype in (np.float32, np.float64)


def _finish(total: float, divisor: float, dtype: Any) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.float64(total) / np.float64(divisor)).astype(dtype)[()]


def _focal_chunk(x: _Arr, y: _Arr, out: _Arr, alpha: float | None, gamma: float, eps: float) -> float | None:
    """Binary focal loss of one chunk into ``out`` (same dtype); returns its float64 sum, None if invalid.

    Targets keep their dtype (integer 0/1 targets are not copied to floats first). Logits are not scanned for
    NaN or inf: a non-finite logit makes its element, so the sum, non-finite (inf - inf, 0 * inf or NaN),
    which hands the call to the validating formula; finite logits always give a finite sum.
    """
    if y.dtype.kind in "biu":
        if y.size and (y.max() > 1 or y.min() < 0):
            return None
        hard = not eps  # integers in [0, 1]
    else:
        y = y.astype(x.dtype, copy=False)  # floating targets in the logits' precision, as in the formula
        if not (y.min() >= 0 and y.max() <= 1):  # NaN fails both
            return None
        hard = not eps and bool(np.all((y == 0) | (y == 1)))
    if hard:
        _focal_hard(x, y, out, gamma)
    else:
        y = _focal_soft(x, y.astype(x.dtype, copy=False), out, gamma, eps)  # alpha_t weighs smoothed targets
    if alpha is not None:
        dt = x.dtype.type
        out *= dt(1.0 - alpha) + dt(2.0 * alpha - 1.0) * y
    total = float(np.sum(out, dtype=np.float64))
    return total if math.isfinite(total) else None


def _focal_hard(x: _Arr, y: _Arr, out: _Arr, gamma: float) -> None:
    """Hard 0/1 targets: everything from x_t, with two transcendentals (exp2 and log1p) per element."""
    dt = x.dtype.type
    x_t = x * (y * dt(2) - dt(1))  # x if y == 1 else -x
    e = np.abs(x_t)
    np.multiply(e, dt(-_LOG2E), out=e)
    np.exp2(e, out=e)  # exp(-|x_t|)
    soft = np.log1p(e)  # log1p(exp(-|x_t|)), shared by both softplus values
    pos = np.maximum(x_t, dt(0))
    sp_t = soft + pos  # softplus(x_t) = -log(1 - p_t)
    ce = pos - x_t  # max(-x_t, 0), exact
    ce += soft  # softplus(-x_t) = -log p_t, without cancellation
    if gamma == 2.0:  # the default: (1 - p_t)^2 as a square, one exp2 fewer in cost than a power
        np.multiply(sp_t, dt(-_LOG2E), out=sp_t)
        np.exp2(sp_t, out=sp_t)
        np.multiply(sp_t, sp_t, out=sp_t)
    else:  # (1 - p_t)^gamma = exp(-gamma softplus(x_t)): finite for every gamma >= 0
        np.multiply(sp_t, dt(-gamma * _LOG2E), out=sp_t)
        np.exp2(sp_t, out=sp_t)
    np.multiply(sp_t, ce, out=out)


def _focal_soft(x: _Arr, y: _Arr, out: _Arr, gamma: float, eps: float) -> _Arr:
    """Soft (or smoothed) targets: the torchvision form with BCE and p_t = p y + (1 - p)(1 - y).

    Returns the targets after label smoothing.
    """
    dt = x.dtype.type
    soft = np.exp(-np.abs(x))
    np.log1p(soft, out=soft)  # log1p(exp(-|x|)), shared by both softplus values
    pos = np.maximum(x, dt(0))
    sp_pos = soft + pos  # softplus(x) = -log(1 - p)
    sp_neg = soft + (pos - x)  # softplus(-x) = -log p; max(-x, 0) = max(x, 0) - x exactly
    if eps:
        y = y * dt(1.0 - eps) + dt(eps / 2.0)
    ce = y * sp_neg + (1 - y) * sp_pos  # BCE
    with np.errstate(divide="ignore"):
        log1m_pt = np.logaddexp(np.log1p(-y) - sp_neg, np.log(y) - sp_pos)
    np.multiply(log1m_pt, dt(gamma), out=log1m_pt)
    np.exp(log1m_pt, out=out)
    out *= ce
    return y


def focal_fast(
    input: Any,
    target: Any,
    kind: str,
    from_logits: bool,
    alpha: Any,
    gamma: float,
    weight: Any,
    ignore_index: Any,
    eps: Any,
    reduction: str,
    norm: float | None,
) -> Any:
    """Binary focal loss from logits (numpy, no weight); None where it does not apply."""
    if not (_state["enabled"] and kind == "binary" and from_logits and weight is None and _plain(input)):
        return None
    if not (isinstance(target, np.ndarray) and target.shape == input.shape and target.dtype.kind in "fiub"):
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int) or 0 <= ignore_index <= 1:
        return None
    if not (isinstance(eps, int | float) and 0 <= eps < 1):
        return None
    if alpha is not None and not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
        return None
    a = None if alpha is None else float(alpha)
    x = np.ascontiguousarray(input).reshape(-1)  # [...] -> [n]
    y = np.ascontiguousarray(target).reshape(-1)  # converted chunk by chunk
    out = np.empty_like(x) if reduction == "none" else None  # else each thread's scratch chunk

    def run(i: int) -> float | None:
        s = slice(i, i + CHUNK)
        chunk = x[s]
        dest = out[s] if out is not None else _buffer(chunk.size, x.dtype)
        return _focal_chunk(chunk, y[s], dest, a, gamma, float(eps))

    sums = _map(run, range(0, x.size, CHUNK))
    if any(v is None for v in sums):
        return None
    if out is not None:
        return out.reshape(input.shape)
    total = math.fsum(sums)
    divisor = x.size if reduction == "mean" else (1.0 if norm is None else max(1.0, norm))
    return _finish(total, divisor, input.dtype)


def _ce_chunk(x: _Arr, x_t: _Arr, out: _Arr, ones: _Arr) -> bool:
    """Per-row CE of a chunk ``[r, C]`` (target logits ``x_t [r]``) into ``out [r]``; False if invalid.

    Row sums of exponentials in the input's dtype, one matrix-vector product, with ``exp(x)`` computed as
    ``exp2(x log2 e)`` (numpy's SIMD exp2 is faster than its exp; the per-element error measured stays below
    torch's float32 log-softmax). The per-row finish runs in float64 as ``log(S exp(-x_t))``, so a
    confident row's small loss is not the difference of two large numbers. Unshifted while no logit is
    below -80 (no row can vanish) and no sum overflows; otherwise the chunk is shifted by each row's max.
    NaN and -inf show in the min, +inf in the max.
    """
    lo = x.min()
    if not math.isfinite(lo):
        return False
    buf = _buffer(x.size, x.dtype).reshape(x.shape)  # [r, C], reused by this thread
    picked = x_t.astype(np.float64)
    if lo >= -80:
        np.multiply(x, x.dtype.type(_LOG2E), out=buf)
        with np.errstate(over="ignore"):
            sums = (np.exp2(buf, out=buf) @ ones).astype(np.float64)  # [r]: exp(x) as exp2(x log2 e)
        if np.isfinite(sums).all():
            out[:] = np.log(sums * np.exp(-picked))
            return True
    m = x.max(axis=1, keepdims=True)  # [r, 1]
    if not np.isfinite(m).all():
        return False
    np.subtract(x, m, out=buf)
    sums = (np.exp(buf, out=buf) @ ones).astype(np.float64)  # [r], each >= 1
    out[:] = np.log(sums) + (m[:, 0].astype(np.float64) - picked)
    return True


def _ce_onnxruntime(x: _Arr, idx: _Arr, out: _Arr) -> bool:
    """Per-row CE of float32 ``x [n, C]`` (targets ``idx [n]``) into ``out [n]`` from ONNX Runtime's row
    sums, chunk by chunk on the worker threads; False when it is not used or a row needs the numpy kernel's
    checks (a logit below -80, non-finite, or a sum overflowing). The finish ``log S - x_t`` runs in float64:
    its error is float32 rounding of ``S`` alone, as in `_ce_chunk`, with one transcendental per row."""
    if not (x.dtype == np.float32 and x.size >= _ort.MIN_ELEMENTS and _ort.available()):
        return False
    n, num_classes = x.shape
    rows = max(1, _ort.CHUNK_ELEMENTS // num_classes)
    starts = np.arange(0, min(rows, n) * num_classes, num_classes)  # [rows]: flat offset of each row

    def run(i: int) -> bool:
        chunk = x[i : i + rows]  # [r, C]
        r = chunk.shape[0]
        sums, lows = _ort.row_exp_sums(chunk)
        if not (np.isfinite(sums).all() and (lows >= -80).all()):  # NaN fails both; -inf shows in lows
            return False
        x_t = np.take(chunk.reshape(-1), starts[:r] + idx[i : i + r])  # [r], read while the chunk is hot
        loss = sums.astype(np.float64)  # one float64 temporary, worked in place
        np.log(loss, out=loss)
        loss -= x_t
        out[i : i + r] = loss
        return True

    return all(_map(run, range(0, n, rows)))


def cross_entropy_fast(
    input: Any,
    target: Any,
    kind: str,
    from_logits: bool,
    weight: Any,
    ignore_index: Any,
    eps: Any,
    reduction: str,
    norm: float | None,
) -> Any:
    """Multiclass CE from logits, class-index targets (numpy, no smoothing); None where not applicable."""
    if not (_state["enabled"] and kind == "multiclass" and from_logits and eps == 0 and _plain(input)):
        return None
    if input.ndim < 1 or input.shape[-1] < 2 or isinstance(ignore_index, bool):
        return None
    num_classes = input.shape[-1]
    if not (
        isinstance(target, np.ndarray) and target.dtype.kind in "iu" and target.shape == input.shape[:-1]
    ):
        return None
    if not isinstance(ignore_index, int):
        return None
    w = check_weight(weight, input.shape, kind="multiclass")
    x = np.ascontiguousarray(input).reshape(-1, num_classes)  # [..., C] -> [n, C]
    t = target.reshape(-1)
    t = t if t.dtype == np.intp else t.astype(np.intp)
    in_range = t.size == 0 or (t.min() >= 0 and t.max() < num_classes)
    if in_range and not 0 <= ignore_index < num_classes:  # the common case: nothing to ignore
        ignored = None
    else:
        ignored = t == ignore_index
        if not np.all(((t >= 0) & (t < num_classes)) | ignored):
            return None
    idx = np.where(ignored, 0, t) if ignored is not None else t
    out = np.empty(x.shape[0], dtype=x.dtype)
    ones = np.ones(num_classes, dtype=x.dtype)
    rows = max(1, CE_CHUNK // num_classes)
    if not _ce_onnxruntime(x, idx, out):
        x_t = x.reshape(-1)[np.arange(x.shape[0]) * num_classes + idx]  # [n]: each row's target logit
        ok = _map(
            lambda i: _ce_chunk(x[i : i + rows], x_t[i : i + rows], out[i : i + rows], ones),
            range(0, len(t), rows),
        )
        if not all(ok):
            return None
    sample_w = None if w is None else w.astype(x.dtype)[idx]
    if sample_w is not None:
        out *= sample_w
    if ignored is not None:
        out[ignored] = 0
    if reduction == "none":
        return out.reshape(input.shape[:-1])
    total = float(np.sum(out, dtype=np.float64))
    if reduction == "sum":
        divisor = 1.0 if norm is None else max(1.0, norm)
    elif sample_w is not None:
        kept = sample_w if ignored is None else np.where(ignored, 0, sample_w)
        divisor = float(np.sum(kept, dtype=np.float64))
    else:
        divisor = float(len(t) - (0 if ignored is None else np.count_nonzero(ignored)))
    return _finish(total, divisor, input.dtype)
