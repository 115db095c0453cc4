"""The ONNX Runtime row sums (`losses._ort`) and the cross-entropy kernel built on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from losses import _kernels as kernels
from losses import _ort, cross_entropy

ROOT = Path(__file__).resolve().parents[2]


def test_committed_graph_is_what_the_generator_writes(tmp_path):
    subprocess.run(
        [sys.executable, "scripts/gen_loss_graphs.py", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    fresh = (tmp_path / _ort.GRAPH.name).read_bytes()
    assert fresh == _ort.GRAPH.read_bytes(), (
        "run `python scripts/gen_loss_graphs.py` and commit losses/_graphs/"
    )


def test_row_sums_and_minimums_equal_float64(rng):
    x = (rng.standard_normal((3001, 80)) * 4).astype(np.float32)
    x[5, 7] = 88.0  # exp(88) is near float32's largest value
    sums, lows = _ort.row_exp_sums(x)
    assert sums.shape == lows.shape == (3001,) and sums.dtype == lows.dtype == np.float32
    exact = np.exp(x.astype(np.float64)).sum(axis=1)
    np.testing.assert_allclose(sums, exact, rtol=2e-6)
    np.testing.assert_array_equal(lows, x.min(axis=1))


def test_row_sums_overflow_to_inf_and_carry_non_finite_values(rng):
    x = rng.standard_normal((1000, 80)).astype(np.float32)
    x[1, 2], x[3, 4], x[5, 6] = 100.0, np.nan, -np.inf
    sums, lows = _ort.row_exp_sums(x)
    assert sums[1] == np.inf and np.isnan(sums[3]) and lows[5] == -np.inf
    assert np.isfinite(np.delete(sums, [1, 3])).all()


def test_the_kernel_uses_onnxruntime_for_large_float32_inputs_only(rng):
    big = rng.standard_normal((1000, 80))
    idx = rng.integers(0, 80, 1000)
    out = np.empty(1000)
    assert not kernels._ce_onnxruntime(big, idx, out)  # float64: the numpy kernel
    small = big[:10].astype(np.float32)
    assert not kernels._ce_onnxruntime(small, idx[:10], out[:10].astype(np.float32))  # below MIN_ELEMENTS
    out32 = np.empty(1000, dtype=np.float32)
    assert kernels._ce_onnxruntime(big.astype(np.float32), idx, out32)
    x64 = big.astype(np.float32).astype(np.float64)
    exact = np.log(np.exp(x64).sum(axis=1)) - x64[np.arange(1000), idx]
    np.testing.assert_allclose(out32, exact, rtol=2e-6, atol=1e-6)
    with _ort.disabled():
        assert not _ort.available()
        assert not kernels._ce_onnxruntime(big.astype(np.float32), idx, out32)
    assert _ort.available()


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_cross_entropy_is_the_same_on_onnxruntime_numpy_and_the_formula(rng, reduction):
    x = (rng.standard_normal((4000, 80)) * 3).astype(np.float32)
    t = rng.integers(0, 80, 4000)
    t[10:20] = -100
    for weight in (None, rng.uniform(0.2, 2.0, 80)):
        ort_value = cross_entropy(x, t, weight=weight, reduction=reduction)
        with _ort.disabled():
            numpy_value = cross_entropy(x, t, weight=weight, reduction=reduction)
        with kernels.disabled():
            formula = cross_entropy(x, t, weight=weight, reduction=reduction)
        assert ort_value.dtype == numpy_value.dtype == formula.dtype == np.float32
        np.testing.assert_allclose(ort_value, formula, rtol=3e-6, atol=2e-6)
        np.testing.assert_allclose(numpy_value, formula, rtol=3e-6, atol=2e-6)


def test_reduced_cross_entropy_is_within_1e6_of_float64(rng):
    x = (rng.standard_normal((20000, 80)) * 3).astype(np.float32)
    t = rng.integers(0, 80, 20000)
    x64 = x.astype(np.float64)
    exact = np.mean(np.log(np.exp(x64).sum(axis=1)) - x64[np.arange(20000), t])
    assert abs(float(cross_entropy(x, t)) - exact) / exact < 1e-6


def test_rows_outside_the_unshifted_range_fall_back_and_stay_exact(rng):
    x = (rng.standard_normal((2000, 80)) * 3).astype(np.float32)
    t = rng.integers(0, 80, 2000)
    x[7] -= 200.0  # every logit of row 7 below -80: exp would vanish
    x[9, 3] = 95.0  # exp overflows float32
    with kernels.disabled():
        formula = cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(cross_entropy(x, t, reduction="none"), formula, rtol=3e-6, atol=2e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_logits_still_raise(rng, bad):
    x = rng.standard_normal((2000, 80)).astype(np.float32)
    x[1500, 3] = bad
    with pytest.raises(ValueError, match="input"):
        cross_entropy(x, rng.integers(0, 80, 2000))


def test_without_onnxruntime_the_numpy_kernel_gives_the_same_value():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('onnxruntime', 'torch'):
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, Block())
import numpy as np
from losses import _ort, cross_entropy
rng = np.random.default_rng(0)
x = (rng.standard_normal((3000, 80)) * 3).astype(np.float32)
t = rng.integers(0, 80, 3000)
assert not _ort.available()
print(repr(float(cross_entropy(x, t))))
assert 'onnxruntime' not in sys.modules
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3000, 80)) * 3).astype(np.float32)
    t = rng.integers(0, 80, 3000)
    assert abs(float(out.stdout) - float(cross_entropy(x, t))) <= 2e-6 * float(out.stdout)


def test_a_graph_onnxruntime_cannot_load_falls_back_to_numpy_with_a_warning(
    rng, monkeypatch, tmp_path, caplog
):
    broken = tmp_path / "row_exp_sums.onnx"
    broken.write_bytes(b"not an onnx model")
    monkeypatch.setattr(_ort, "GRAPH", broken)
    monkeypatch.setattr(_ort, "_state", {"enabled": True, "session": None, "missing": False})
    x = (rng.standard_normal((2000, 80)) * 3).astype(np.float32)
    t = rng.integers(0, 80, 2000)
    with caplog.at_level("WARNING", logger="losses._ort"):
        assert not _ort.available()
    assert "cross-entropy uses numpy alone" in caplog.text
    with kernels.disabled():
        formula = cross_entropy(x, t)
    np.testing.assert_allclose(cross_entropy(x, t), formula, rtol=3e-6)
