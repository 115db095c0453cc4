"""The numpy path imports and computes with torch blocked (the serving image has no torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, Block())
import numpy as np
import losses
rng = np.random.default_rng(0)
x = rng.normal(size=(50, 4)); y = (rng.random((50, 4)) < 0.3).astype(float); t = rng.integers(0, 4, 50)
for name in losses.LOSS_NAMES:
    fn = losses.get_loss(name)
    out = fn(x, from_logits=True) if name == 'entropy' else fn(x, y, kind='binary')
    assert np.all(np.isfinite(out)), name
    if name != 'entropy':
        g = losses.loss_gradient(name, x, t, kind='multiclass', from_logits=True)
        assert g.shape == x.shape
print(float(losses.focal_loss(x, y)), float(losses.cross_entropy(x, t)))
anatomy = losses.loss_anatomy(x, y).to_dict()
print(anatomy['count'], losses.clamped_count(np.array([0.0, 1.0, 0.5]), from_logits=False))
try:
    losses.focal_loss(x, y, gamma=-1)
except losses.LossInputError as exc:
    print(exc.argument)
assert 'torch' not in sys.modules
"""


def test_numpy_path_works_with_torch_blocked():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert float(lines[0]) > 0 and float(lines[1]) > 0
    assert lines[2:] == ["200", "2", "gamma"]
