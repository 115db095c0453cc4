"""The synthetic distributions the default model is trained and judged on.

`HELDOUT_SPLITS` are the rows of the README's held-out table (the images users send: any size and aspect
ratio, dense scenes); `TRAIN_MIX` is the training distribution, which covers them and sizes between.
"""

from __future__ import annotations

from .synthetic import SyntheticConfig, SyntheticMix

__all__ = ["HELDOUT_SPLITS", "TRAIN_MIX"]

_BIG = {"min_size": 28, "max_size": 83}  # the objects scaled up 2.3x

#: name -> distribution of one row of the held-out table (same objects unless the name says otherwise).
HELDOUT_SPLITS: dict[str, SyntheticConfig] = {
    "128x128, 4-12 objects": SyntheticConfig(),
    "300x200, same objects": SyntheticConfig(width=300, height=200),
    "200x300, same objects": SyntheticConfig(width=200, height=300),
    "256x256, 16-48 objects": SyntheticConfig(width=256, height=256, min_objects=16, max_objects=48),
    "128x128, 15-30 objects": SyntheticConfig(min_objects=15, max_objects=30),
    "300x200, objects scaled up 2.3x": SyntheticConfig(width=300, height=200, **_BIG),
}


def _c(w: int, h: int, lo: int, hi: int, **kw: int) -> SyntheticConfig:
    return SyntheticConfig(width=w, height=h, min_objects=lo, max_objects=hi, **kw)


#: The training distribution: the table's sizes and densities, other aspect ratios, smaller and larger
#: images (a 384 px side is letterboxed down), and large objects. Weights: how often each is drawn.
TRAIN_MIX = SyntheticMix(
    components=(
        _c(128, 128, 4, 12),
        _c(128, 128, 12, 30),
        _c(300, 200, 4, 16),
        _c(200, 300, 4, 16),
        _c(256, 256, 12, 48),
        _c(300, 200, 4, 12, **_BIG),
        _c(200, 300, 4, 12, **_BIG),
        _c(256, 160, 4, 16),
        _c(160, 256, 4, 16),
        _c(320, 240, 8, 32),
        _c(240, 320, 8, 32),
        _c(96, 160, 2, 8),
        _c(384, 256, 6, 24),
        _c(192, 192, 6, 24),
    ),
    weights=(2.0, 1.5, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0),
)
