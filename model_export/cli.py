"""`python -m model_export ...`: generate, train, evaluate, export, default-model (typer + rich)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="output directory (images/ + instances.json)")],
    num_images: Annotated[int, typer.Option(min=1)] = 512,
    seed: Annotated[int, typer.Option()] = 0,
    width: Annotated[int, typer.Option(min=32)] = 128,
    height: Annotated[int, typer.Option(min=32)] = 128,
    mix: Annotated[
        bool, typer.Option(help="the default model's training mix of sizes and densities (ignores the size)")
    ] = False,
) -> None:
    """Write a synthetic shapes dataset in COCO format."""
    from .heldout import TRAIN_MIX
    from .synthetic import SyntheticConfig
    from .synthetic import generate as gen

    path = gen(out, num_images, seed, TRAIN_MIX if mix else SyntheticConfig(width=width, height=height))
    console.print(f"wrote {num_images} images and {path}")


@app.command("train")
def train_cmd(
    train_annotations: Annotated[
        Path,
        typer.Option("--train", exists=True, dir_okay=False, help="COCO instances.json (images/ beside it)"),
    ],
    val_annotations: Annotated[
        Path | None, typer.Option("--val", exists=True, dir_okay=False, help="validation instances.json")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/train"),
    loss: Annotated[
        str, typer.Option(help="focal, balanced_ce, cross_entropy, hard_truncated, ...")
    ] = "focal",
    loss_params: Annotated[str, typer.Option(help='JSON, e.g. \'{"alpha": 0.25, "gamma": 2}\'')] = "{}",
    box_loss: Annotated[str, typer.Option(help="smooth_l1 or giou")] = "smooth_l1",
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    max_iterations: Annotated[int | None, typer.Option(min=1)] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(min=0.0)] = 2e-3,
    seed: Annotated[int, typer.Option()] = 0,
    eval_every: Annotated[int, typer.Option(min=0)] = 1,
    resume: Annotated[bool, typer.Option(help="continue from <out>/checkpoint.pt")] = False,
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
) -> None:
    """Train a detector; under torchrun, data-parallel (gloo on CPU, nccl on CUDA)."""
    import torch.distributed as dist

    from .train import TrainConfig, train

    try:
        params = json.loads(loss_params)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--loss-params") from exc
    if device not in ("cpu", "cuda"):
        raise typer.BadParameter(f"must be 'cpu' or 'cuda', got {device!r}", param_hint="--device")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    cfg = TrainConfig(
        train_annotations=str(train_annotations),
        val_annotations=str(val_annotations) if val_annotations else None,
        out_dir=str(out_dir),
        loss=loss,
        loss_params=params,
        box_loss=box_loss,
        epochs=epochs,
        max_iterations=max_iterations,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        eval_every=eval_every,
        resume=resume,
        threads=threads,
        device=device,
    )
    rank = dist.get_rank() if dist.is_initialized() else 0
    try:
        result = train(cfg)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank != 0:
        return
    table = Table("iteration", "mAP", "mAP50", "mAP75", title=f"{out_dir} ({result.seconds:.0f} s)")
    for e in result.evals:
        table.add_row(str(e.iteration), f"{e.mAP:.3f}", f"{e.mAP50:.3f}", f"{e.mAP75:.3f}")
    console.print(table)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Option(help="a training run directory")],
    annotations: Annotated[Path, typer.Option(help="COCO instances.json to evaluate on")],
) -> None:
    """COCO mAP of a trained run on a dataset."""
    from .coco import load_coco
    from .evaluate import evaluate_detector
    from .runs import load_run

    cfg, model, anchors, _, _ = load_run(run)
    m = evaluate_detector(model, load_coco(annotations, cfg.input), anchors, cfg.post)
    console.print_json(json.dumps(m.as_dict()))


@app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Option(help="a training run directory")],
    eval_annotations: Annotated[
        Path, typer.Option("--eval", help="held-out instances.json (not trained on)")
    ],
    eval_seed: Annotated[int | None, typer.Option(help="the held-out split's seed, for metadata")] = None,
    repository: Annotated[Path, typer.Option()] = Path("models"),
    name: Annotated[str, typer.Option()] = "detector",
    version: Annotated[int, typer.Option(min=1)] = 1,
    max_detections: Annotated[
        int | None,
        typer.Option(min=1, help="detections per image the graph returns (output rows); default: the run's"),
    ] = None,
) -> None:
    """Export a run to ONNX (checked + parity) in a Triton-layout model repository."""
    from dataclasses import replace

    from .default_model import export_result
    from .runs import load_run
    from .train import EvalRecord, TrainResult

    cfg, model, anchors, classes, state = load_run(run)
    if max_detections is not None:
        cfg = replace(cfg, post=replace(cfg.post, max_detections=max_detections))
    result = TrainResult(
        model=model, anchors=anchors, classes=classes, iterations=int(state["iteration"]),
        epochs=int(state["epoch"]) + 1, seconds=float(state["seconds"]), images_per_second=0.0,
        evals=[EvalRecord(**e) for e in state["evals"]],
        history=[], final=None, out_dir=run,
    )  # fmt: skip
    meta = export_result(result, cfg, repository, eval_annotations, eval_seed, name=name, version=version)
    console.print_json(json.dumps({"evaluation": meta["evaluation"], "model_sha256": meta["model_sha256"]}))


@app.command("default-model")
def default_model(
    out: Annotated[Path, typer.Option(help="model repository to write")] = Path("models"),
    data_dir: Annotated[Path, typer.Option()] = Path("data/default-model"),
    run_dir: Annotated[Path, typer.Option()] = Path("runs/default-model"),
) -> None:
    """Reproduce the committed default model `models/detector` (data, training, export) from nothing."""
    from .default_model import build_default_model

    meta = build_default_model(out, data_dir, run_dir)
    console.print_json(json.dumps({"evaluation": meta["evaluation"], "training": meta["training"]}))


from .ablate import ablate_cmd  # noqa: E402 (the loss ablation lives in its own module)

app.command("ablate")(ablate_cmd)


def main() -> None:
    app()
