"""Reading a COCO-format detection dataset (images dir + instances.json) into letterboxed tensors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .preprocess import InputSpec, preprocess

__all__ = ["CocoDetection", "load_coco"]


@dataclass
class CocoDetection:
    """A whole dataset in memory, preprocessed for the network.

    `images [M, 3, H, W]` float32 (normalised, letterboxed), `targets[i]` with `boxes [G_i, 4]` xyxy in the
    letterboxed frame and `labels [G_i]` int64 (0-based, the order of `classes`), `scales [M]` the letterbox
    factors, `image_ids` the COCO ids, `classes` the category names sorted by category id, `content[i]` the
    `(width, height)` the image fills at the top-left of the canvas (the rest is padding).
    """

    annotation_file: Path
    images: Tensor
    targets: list[dict[str, Tensor]]
    scales: list[float]
    image_ids: list[int]
    category_ids: list[int]
    classes: list[str]
    content: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.image_ids)


def load_coco(
    annotation_file: str | Path, spec: InputSpec, image_dir: str | Path | None = None
) -> CocoDetection:
    """Load `annotation_file`; images are read from `image_dir` (default: `images/` next to the file)."""
    path = Path(annotation_file)
    coco = json.loads(path.read_text())
    root = Path(image_dir) if image_dir is not None else path.parent / "images"
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    cat_index = {c["id"]: k for k, c in enumerate(cats)}
    by_image: dict[int, list[dict[str, object]]] = {}
    for ann in coco["annotations"]:
        if not ann.get("iscrowd", 0):
            by_image.setdefault(ann["image_id"], []).append(ann)
    tensors, targets, scales, ids, content = [], [], [], [], []
    for info in sorted(coco["images"], key=lambda d: d["id"]):
        with Image.open(root / info["file_name"]) as im:
            x, s = preprocess(im, spec)  # [3, H, W]
            w, h = im.size
        cw, ch = min(spec.width, int(w * s + 0.5)), min(spec.height, int(h * s + 0.5))
        content.append((max(1, cw), max(1, ch)))
        anns = by_image.get(info["id"], [])
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)  # [G, 4]
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1) * s  # [G, 4]
        keep = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        labels = np.array([cat_index[int(str(a["category_id"]))] for a in anns], dtype=np.int64)
        tensors.append(torch.from_numpy(x))
        targets.append(
            {"boxes": torch.from_numpy(xyxy[keep]).float(), "labels": torch.from_numpy(labels[keep].copy())}
        )
        scales.append(s)
        ids.append(int(info["id"]))
    images = torch.stack(tensors) if tensors else torch.zeros(0, 3, spec.height, spec.width)
    return CocoDetection(
        annotation_file=path,
        images=images,
        targets=targets,
        scales=scales,
        image_ids=ids,
        category_ids=[int(c["id"]) for c in cats],
        classes=[str(c["name"]) for c in cats],
        content=content,
    )
