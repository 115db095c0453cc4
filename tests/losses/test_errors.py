"""Every input error raises LossInputError naming the argument (numpy and torch alike)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losses import (
    LossInputError,
    _kernels,
    clamped_count,
    cross_entropy,
    entropy,
    focal_loss,
    focal_loss_star,
    get_loss,
    hard_truncated_cross_entropy,
    kl_divergence,
    loss_anatomy,
    loss_gradient,
    soft_truncated_cross_entropy,
)

X = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]])
Y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
T = np.array([0, 2])


def _raises(argument, fn, *args, **kwargs):
    with pytest.raises(LossInputError) as info:
        fn(*args, **kwargs)
    assert info.value.argument == argument
    assert argument in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_input_and_target_errors(as_tensor):
    conv = torch.from_numpy if as_tensor else (lambda a: a)
    bad_logits = X.copy()
    bad_logits[0, 0] = np.nan
    _raises("input", focal_loss, conv(bad_logits), conv(Y))
    inf_logits = X.copy()
    inf_logits[1, 1] = np.inf
    _raises("input", cross_entropy, conv(inf_logits), T)
    _raises("input", cross_entropy, conv(np.array([[0.5, 1.5]])), np.array([[1.0, 0.0]]), from_logits=False)
    _raises("input", cross_entropy, conv(np.array([[0.5, 0.4]])), np.array([0]), from_logits=False)  # row sum
    _raises("input", entropy, conv(np.array([[0.2, 0.2]])))
    _raises("input", cross_entropy, conv(np.array([[1.0], [2.0]])), np.array([0, 0]))  # one class
    _raises("target", focal_loss, conv(X), conv(Y[:, :2]))  # shape
    _raises("target", focal_loss, conv(X), conv(Y * 2))  # outside [0, 1]
    _raises("target", cross_entropy, conv(X), np.array([0, 3]))  # index outside [0, C)
    _raises("target", cross_entropy, conv(X), np.array([0, -1]))
    _raises("target", cross_entropy, conv(X), np.array([0.0, 1.0]))  # float indices
    _raises("target", cross_entropy, conv(X), np.array([[0.5, 0.2, 0.2], [1.0, 0.0, 0.0]]))  # row sum
    _raises("target", kl_divergence, conv(X), np.array([[0.5, 0.2, 0.2], [1.0, 0.0, 0.0]]))
    _raises("target", cross_entropy, conv(X), np.array([0, 1, 2]))
    _raises("target", focal_loss, conv(X), None)


def test_parameter_errors():
    _raises("alpha", focal_loss, X, Y, alpha=1.5)
    _raises("alpha", focal_loss, X, Y, alpha=-0.1)
    _raises("alpha", focal_loss, X, T, kind="multiclass", alpha=0.25)  # ambiguous scalar
    _raises("alpha", focal_loss, X, T, kind="multiclass", alpha=[0.2, 0.3])
    _raises("alpha", focal_loss, X, T, kind="multiclass", alpha=[0.2, 0.3, 1.2])
    _raises("background_class", focal_loss, X, T, kind="multiclass", alpha=0.25, background_class=3)
    _raises("gamma", focal_loss, X, Y, gamma=-1.0)
    _raises("gamma", focal_loss, X, Y, gamma="2")
    with _kernels.disabled():  # 0-d parameters are taken as numbers: the same formula gives the same bits
        assert float(focal_loss(X, Y, gamma=np.float32(2.0), alpha=torch.tensor(0.25))) == float(
            focal_loss(X, Y)
        )
    _raises("gamma", focal_loss_star, X, Y, gamma=0.0)
    _raises("m", hard_truncated_cross_entropy, X, Y, m=0.5)
    _raises("m", hard_truncated_cross_entropy, X, Y, m=1.0)
    _raises("m", soft_truncated_cross_entropy, X, Y, m=0.4)
    _raises("k", soft_truncated_cross_entropy, X, Y, k=0.0)
    _raises("k", soft_truncated_cross_entropy, X, Y, k=-2.0)
    _raises("weight", cross_entropy, X, T, weight=[1.0, 2.0])
    _raises("weight", cross_entropy, X, T, weight=[1.0, -2.0, 1.0])
    _raises("weight", focal_loss, X, Y, weight=np.ones(4))
    _raises("reduction", focal_loss, X, Y, reduction="avg")
    _raises("reduction", focal_loss, X, Y, reduction="batchmean")
    _raises("normalizer", focal_loss, X, Y, reduction="mean", normalizer=4)
    _raises("normalizer", focal_loss, X, Y, reduction="sum", normalizer=float("nan"))
    _raises("label_smoothing", cross_entropy, X, T, label_smoothing=1.0)
    _raises("ignore_index", cross_entropy, X, T, ignore_index=1.5)
    _raises("kind", cross_entropy, X, T, kind="softmax")
    _raises("base", entropy, np.array([0.5, 0.5]), base=10)
    _raises("name", get_loss, "dice")
    _raises("name", loss_gradient, "dice", X, Y)
    _raises("from_logits", loss_gradient, "cross_entropy", X, T, from_logits=False)
    _raises("from_logits", loss_gradient, "entropy", X, None)
    _raises("kind", loss_anatomy, X, T, kind="multiclass")
    _raises("loss", loss_anatomy, X, Y, loss="entropy")
    _raises("input", clamped_count, np.array([0.5, 2.0]), from_logits=False)


def test_normalizer_divides_the_sum():
    total = float(focal_loss(X, Y, reduction="sum"))
    assert float(focal_loss(X, Y, reduction="sum", normalizer=4)) == pytest.approx(total / 4)
    assert float(focal_loss(X, Y, reduction="sum", normalizer=0)) == pytest.approx(total)  # max(1, N)
    assert float(focal_loss(X, Y, reduction="sum", normalizer=np.float32(2.0))) == pytest.approx(total / 2)
