"""Training batches as the service serves them: flips within the letterboxed content, scale jitter that keeps
the content at the top-left of a padded canvas, boxes following both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model_export.augment import Augment, make_batch, pad_pixel
from model_export.coco import load_coco
from model_export.preprocess import InputSpec, preprocess
from model_export.synthetic import SyntheticConfig, generate

SPEC = InputSpec(height=96, width=96)
CPU = torch.device("cpu")


def _wide(tmp_path: Path):  # type: ignore[no-untyped-def]
    """One 120x60 image letterboxed into 96x96: content 96x48 at the top-left, padding below."""
    return load_coco(generate(tmp_path, 2, seed=5, cfg=SyntheticConfig(width=120, height=60)), SPEC)


def test_the_content_size_is_recorded(tmp_path: Path) -> None:
    data = _wide(tmp_path)
    assert data.content == [(96, 48), (96, 48)] and data.scales[0] == 0.8


def test_a_flip_mirrors_the_content_and_keeps_the_padding_where_the_service_puts_it(tmp_path: Path) -> None:
    tall = load_coco(generate(tmp_path, 1, seed=6, cfg=SyntheticConfig(width=60, height=120)), SPEC)
    assert tall.content == [(48, 96)]
    idx = torch.tensor([0])
    plain, t0 = make_batch(
        tall, idx, torch.tensor([False]), torch.ones(1, dtype=torch.float64), pad_pixel(SPEC), CPU
    )
    flipped, t1 = make_batch(
        tall, idx, torch.tensor([True]), torch.ones(1, dtype=torch.float64), pad_pixel(SPEC), CPU
    )
    assert torch.equal(flipped[0, :, :, :48], plain[0, :, :, :48].flip(-1))
    assert torch.equal(flipped[0, :, :, 48:], plain[0, :, :, 48:])  # the padding stays on the right
    b0, b1 = t0[0]["boxes"], t1[0]["boxes"]
    assert torch.allclose(b1[:, [0, 2]], 48 - b0[:, [2, 0]]) and torch.equal(b1[:, [1, 3]], b0[:, [1, 3]])
    assert torch.equal(tall.images[0], plain[0])  # the dataset is not changed in place


def test_jitter_is_the_service_letterbox_at_a_smaller_scale(tmp_path: Path) -> None:
    data = _wide(tmp_path)
    idx = torch.tensor([0, 1])
    scales = torch.tensor([0.5, 1.0], dtype=torch.float64)
    images, targets = make_batch(data, idx, torch.tensor([False, False]), scales, pad_pixel(SPEC), CPU)
    assert torch.equal(images[1], data.images[1])
    pad = pad_pixel(SPEC)
    # content 48x24 at the top-left; the antialiasing filter blends one row / column of the seam
    assert torch.equal(images[0, :, 25:, :], pad[:, None, None].expand(3, 71, 96))
    assert torch.equal(images[0, :, :, 49:], pad[:, None, None].expand(3, 96, 47))
    # what the service would feed for the same image letterboxed into a canvas half the size, pasted alike
    with Image.open(tmp_path / "images" / "000000.png") as im:
        small, s = preprocess(im, InputSpec(height=48, width=48))
    assert s == 0.4
    diff = (images[0, :, :24, :48] - torch.from_numpy(small)[:, :24, :]).abs()
    assert float(diff.mean()) < 0.1  # the same picture (two resamplings against one)
    assert torch.allclose(targets[0]["boxes"], data.targets[0]["boxes"] * 0.5)
    assert torch.equal(targets[1]["boxes"], data.targets[1]["boxes"])


def test_draws_without_jitter_are_the_old_flips_and_jitter_stays_in_range() -> None:
    gen = torch.Generator().manual_seed(11)
    old = torch.rand(50, generator=torch.Generator().manual_seed(11)) < 0.5
    flips, scales = Augment().draw(50, gen)
    assert torch.equal(flips, old) and bool((scales == 1).all())
    _, scales = Augment(jitter_prob=0.5, jitter_min=0.6).draw(4000, torch.Generator().manual_seed(0))
    shrunk = scales[scales < 1]
    assert 0.45 < len(shrunk) / 4000 < 0.55 and float(shrunk.min()) >= 0.6
    assert np.isclose(float(shrunk.mean()), 0.8, atol=0.01)
