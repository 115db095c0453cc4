"""The loss family from entropy to focal loss (its contract and this package's choices: ``docs/losses.md``).

Every function takes numpy arrays or torch tensors: numpy in, numpy out (torch is never imported); a tensor
in gives a tensor out, differentiable by autograd.

Design: each loss is written once. ``_dist`` turns any prediction + target into categorical distributions on
a last axis (a binary element is a two-outcome categorical), and the loss modules write each formula once
against a small backend interface (``_backend.NumpyBackend``; ``_torch_backend.TorchBackend``, imported only
when a tensor comes in). We chose two thin backends over the array-API standard because the stable
primitives the formulas need (log-sigmoid, log-softmax, logsumexp, the clamped logs of torch's BCELoss) are
not in that standard. The numpy hot paths (binary focal, cross-entropy from logits) also run as fused,
chunked kernels (``_kernels``; the cross-entropy row sums on ONNX Runtime when it is installed, ``_ort``);
tests prove kernels, numpy and torch paths agree.
"""

from .anatomy import LossAnatomy, loss_anatomy
from .cross_entropy import cross_entropy
from .entropy import entropy, kl_divergence
from .errors import LossInputError
from .focal import focal_loss, focal_loss_star
from .gradients import loss_gradient
from .mergeable import ScoreSpec, ScoreState
from .registry import LOSS_NAMES, clamped_count, get_loss
from .truncated import hard_truncated_cross_entropy, soft_truncated_cross_entropy
from .types import Reduction

__all__ = [
    "LOSS_NAMES",
    "LossAnatomy",
    "LossInputError",
    "Reduction",
    "ScoreSpec",
    "ScoreState",
    "clamped_count",
    "cross_entropy",
    "entropy",
    "focal_loss",
    "focal_loss_star",
    "get_loss",
    "hard_truncated_cross_entropy",
    "kl_divergence",
    "loss_anatomy",
    "loss_gradient",
    "soft_truncated_cross_entropy",
]
