"""The committed default model: one function (and CLI command) reproducing `models/detector` from nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .coco import load_coco
from .evaluate import evaluate_detector
from .export import check_parity, export_onnx, write_repository
from .head import resolve_loss
from .heldout import TRAIN_MIX
from .preprocess import InputSpec
from .synthetic import generate
from .train import TrainConfig, TrainResult, train

__all__ = ["DEFAULT_RECIPE", "DefaultRecipe", "build_default_model", "export_result"]


@dataclass(frozen=True)
class DefaultRecipe:
    """Dataset splits (sizes and seeds) and the training settings of the default detector."""

    train_images: int = 2048
    train_seed: int = 0
    val_images: int = 200  # monitors training (the curve in training.png)
    val_seed: int = 1
    test_images: int = 300  # held out: the figures in metadata.json
    test_seed: int = 2
    epochs: int = 16
    batch_size: int = 16
    lr: float = 2e-3
    # One intra-op thread: on a shared or oversubscribed machine torch's OpenMP workers spin-wait for each
    # other (measured here: 6x the CPU time per step with 2 threads under load); one thread is deterministic.
    threads: int = 1
    # The input the service letterboxes into (see docs/model_repository.md): 256 px keeps the 12-36 px objects
    # of a 300x200 photo at 10-31 px, where the stride-8 anchors find them; 128 px shrank them to 5-15 px.
    input_size: int = 256
    # Scale jitter: this share of each epoch's images is shrunk inside its canvas by up to jitter_min.
    jitter_prob: float = 0.5
    jitter_min: float = 0.6


DEFAULT_RECIPE = DefaultRecipe()


def export_result(
    result: TrainResult,
    cfg: TrainConfig,
    repository: str | Path,
    eval_annotations: str | Path,
    eval_seed: int | None,
    name: str = "detector",
    version: int = 1,
    dataset: str = "",
) -> dict[str, Any]:
    """Evaluate on a held-out split, export, check (checker + parity), write the repository -> metadata."""
    held_out = load_coco(eval_annotations, cfg.input)
    metrics = evaluate_detector(result.model, held_out, result.anchors, cfg.post)
    proto = export_onnx(result.model, result.anchors, cfg.input, cfg.post, result.classes)
    model_bytes = proto.SerializeToString()
    parity = check_parity(model_bytes, result.model, result.anchors, cfg.input, cfg.post, held_out.images[:8])
    metadata: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "version": version,
        "task": "detection",
        "classes": result.classes,
        "input": cfg.input.to_metadata(),
        "outputs": {k: k for k in ("boxes", "scores", "labels", "num_detections")},
        "max_detections": cfg.post.max_detections,
        "score_threshold": cfg.post.score_threshold,
        "iou_threshold": cfg.post.iou_threshold,
        "training": {
            "loss": cfg.loss,
            "loss_params": result_loss_params(cfg),
            "box_loss": cfg.box_loss,
            "dataset": dataset or str(cfg.train_annotations),
            "seed": cfg.seed,
            "iterations": result.iterations,
            "epochs": result.epochs,
            "batch_size": cfg.batch_size,
            "seconds": round(result.seconds, 1),
            "images_per_second": round(result.images_per_second, 1),
        },
        "evaluation": {
            "split": str(eval_annotations),
            "seed": eval_seed,
            "images": len(held_out),
            **{k: round(v, 4) for k, v in metrics.as_dict().items()},
        },
        "parity": {
            "images": parity.images,
            "detections": parity.detections,
            "max_box_rel_diff": parity.max_box_rel_diff,
            "max_score_diff": parity.max_score_diff,
        },
    }
    vdir = write_repository(repository, name, version, proto, metadata)
    return dict(json.loads((vdir / "metadata.json").read_text()))


def result_loss_params(cfg: TrainConfig) -> dict[str, float]:
    """The full classification-loss parameters used (defaults filled in)."""
    return {k: float(v) for k, v in resolve_loss(cfg.loss, cfg.loss_params)[1].items()}


def build_default_model(
    out: str | Path = "models",
    data_dir: str | Path = "data/default-model",
    run_dir: str | Path = "runs/default-model",
    recipe: DefaultRecipe = DEFAULT_RECIPE,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate the synthetic splits, train the default detector (focal loss), export `<out>/detector/1`."""
    data = Path(data_dir)
    train_ann = generate(data / "train", recipe.train_images, recipe.train_seed, TRAIN_MIX)
    val_ann = generate(data / "val", recipe.val_images, recipe.val_seed, TRAIN_MIX)
    test_ann = generate(data / "test", recipe.test_images, recipe.test_seed, TRAIN_MIX)
    cfg = TrainConfig(
        train_annotations=str(train_ann),
        val_annotations=str(val_ann),
        out_dir=str(run_dir),
        loss="focal",
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=0,
        eval_every=4,
        threads=recipe.threads,
        progress=progress,
        jitter_prob=recipe.jitter_prob,
        jitter_min=recipe.jitter_min,
        input=InputSpec(height=recipe.input_size, width=recipe.input_size),
    )
    result = train(cfg)
    sizes = sorted({f"{c.width}x{c.height}" for c in TRAIN_MIX.components})
    dataset = (
        f"synthetic shapes: {recipe.train_images} images, seed {recipe.train_seed}, a mix of "
        f"{', '.join(sizes)}, {min(c.min_objects for c in TRAIN_MIX.components)}-"
        f"{max(c.max_objects for c in TRAIN_MIX.components)} objects, letterboxed into "
        f"{recipe.input_size}x{recipe.input_size}, scale jitter {recipe.jitter_min}-1 on "
        f"{recipe.jitter_prob:.0%} of the images"
    )
    return export_result(result, cfg, out, test_ann, recipe.test_seed, dataset=dataset)
