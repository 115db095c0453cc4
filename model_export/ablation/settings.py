"""The loss settings of the ablation and the paper's numbers for them.

Each setting names a training classification loss (see `model_export.head.CLASSIFICATION_LOSSES`) and its
parameters. `paper_ap` is the COCO AP of RetinaNet-50 in Lin et al. 2017 (Table 1a/1b, and the appendix for
FL*) for the same setting, or None where the paper has no such run (the truncated cross-entropies come from
the seed notes, not from the paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SETTINGS", "LossSetting", "describe_params"]


@dataclass(frozen=True)
class LossSetting:
    """One row of the ablation: a short unique `key`, the training loss name, its parameters."""

    key: str
    family: str  # "CE", "focal", "FL*", "hard-truncated CE", "soft-truncated CE"
    loss: str  # a name of model_export.head.CLASSIFICATION_LOSSES
    params: dict[str, float] = field(default_factory=dict)
    paper_ap: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "family": self.family,
            "loss": self.loss,
            "params": dict(self.params),
            "paper_ap": self.paper_ap,
        }


def describe_params(params: dict[str, float]) -> str:
    """`{"gamma": 2.0, "alpha": 0.25}` -> `"alpha 0.25, gamma 2"`, keys sorted; `k` shown as `K`."""
    parts = []
    for name in sorted(params):
        label = "K" if name == "k" else name
        parts.append(f"{label} {params[name]:g}")
    return ", ".join(parts) if parts else "-"


# Alpha-balanced CE is focal loss with gamma 0 (the spec's identity): the CE rows share the focal code path.
SETTINGS: tuple[LossSetting, ...] = (
    LossSetting("ce_a0.25", "CE", "balanced_ce", {"alpha": 0.25, "gamma": 0.0}, 10.8),
    LossSetting("ce_a0.5", "CE", "balanced_ce", {"alpha": 0.5, "gamma": 0.0}, 30.2),
    LossSetting("ce_a0.75", "CE", "balanced_ce", {"alpha": 0.75, "gamma": 0.0}, 31.1),
    LossSetting("fl_g0.5_a0.5", "focal", "focal", {"alpha": 0.5, "gamma": 0.5}, 32.9),
    LossSetting("fl_g1_a0.25", "focal", "focal", {"alpha": 0.25, "gamma": 1.0}, 33.7),
    LossSetting("fl_g2_a0.25", "focal", "focal", {"alpha": 0.25, "gamma": 2.0}, 34.0),
    LossSetting("fl_g5_a0.25", "focal", "focal", {"alpha": 0.25, "gamma": 5.0}, 32.2),
    LossSetting("flstar_g2_b1", "FL*", "focal_star", {"alpha": 0.25, "gamma": 2.0, "beta": 1.0}, 33.8),
    LossSetting("hard_m0.6", "hard-truncated CE", "hard_truncated", {"m": 0.6}, None),
    LossSetting("soft_m0.5_k1", "soft-truncated CE", "soft_truncated", {"m": 0.5, "k": 1.0}, None),
    LossSetting("soft_m0.5_k5", "soft-truncated CE", "soft_truncated", {"m": 0.5, "k": 5.0}, None),
    LossSetting("soft_m0.6_k1", "soft-truncated CE", "soft_truncated", {"m": 0.6, "k": 1.0}, None),
    LossSetting("soft_m0.6_k5", "soft-truncated CE", "soft_truncated", {"m": 0.6, "k": 5.0}, None),
)
