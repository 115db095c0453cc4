"""Training: `train(TrainConfig) -> TrainResult`, single process or DDP (torchrun / spawn, gloo or nccl)."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from .anchors import make_anchors
from .augment import Augment, make_batch, pad_pixel
from .coco import load_coco
from .evaluate import COCOMetrics, evaluate_detector
from .head import resolve_loss
from .model import Detector, DetectorConfig
from .postprocess import PostprocessConfig
from .preprocess import InputSpec
from .progress import TrainProgress

__all__ = ["EvalRecord", "TrainConfig", "TrainResult", "train"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


@dataclass
class TrainConfig:
    """Everything one training run depends on. `loss` + `loss_params` pick the classification loss by name."""

    train_annotations: str
    val_annotations: str | None = None
    out_dir: str = "runs/train"
    loss: str = "focal"
    loss_params: dict[str, float] = field(default_factory=dict)
    box_loss: str = "smooth_l1"
    epochs: int = 10
    max_iterations: int | None = None  # shorten the run (and its schedule) to this many optimiser steps
    stop_after_epochs: int | None = None  # leave after this many epochs, as if interrupted; `resume` goes on
    batch_size: int = 16  # per process
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_iterations: int = 100
    grad_clip: float = 10.0
    hflip: bool = True
    jitter_prob: float = 0.0  # share of images shrunk inside their canvas each epoch (scale jitter)
    jitter_min: float = 1.0  # the smallest shrink factor (uniform in [jitter_min, 1])
    seed: int = 0
    eval_every: int = 1  # epochs; 0 = only at the end
    log_every: int = 10  # iterations
    threads: int | None = None
    device: str = "cpu"  # "cpu" or "cuda" (under DDP each process takes cuda:LOCAL_RANK)
    resume: bool = False
    progress: bool = True
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    input: InputSpec = field(default_factory=InputSpec)
    post: PostprocessConfig = field(default_factory=PostprocessConfig)


@dataclass(frozen=True)
class EvalRecord:
    """One validation evaluation."""

    iteration: int
    epoch: int
    mAP: float
    mAP50: float
    mAP75: float


@dataclass
class TrainResult:
    """The trained model (rank 0's copy, eval mode) and what happened."""

    model: Detector
    anchors: Tensor
    classes: list[str]
    iterations: int
    epochs: int
    seconds: float
    images_per_second: float
    evals: list[EvalRecord]
    history: list[dict[str, float]]
    final: COCOMetrics | None
    out_dir: Path


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cpu":
        return torch.device("cpu")
    if cfg.device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: 'cuda' requested but torch sees no CUDA device")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    raise ValueError(f"device: must be 'cpu' or 'cuda', got {cfg.device!r}")


def _lr_lambda(warmup: int, total: int) -> Any:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress)) * 0.98 + 0.02

    return f


def train(cfg: TrainConfig) -> TrainResult:
    """Train a detector on a COCO dataset; checkpoints, a JSON-lines metrics log and a plot go to `out_dir`.

    Deterministic for a given seed and world size. Under torch.distributed (initialised by the caller), each
    process trains on its shard of every epoch's permutation, DDP averages the gradients, and rank 0 writes.
    """
    from .plot import plot_metrics

    resolve_loss(cfg.loss, cfg.loss_params)  # fail on a bad name before loading anything
    device = _device(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rank, world = _world()
    out = Path(cfg.out_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    torch.manual_seed(cfg.seed)
    data = load_coco(cfg.train_annotations, cfg.input)
    val = load_coco(cfg.val_annotations, cfg.input) if cfg.val_annotations else None
    det_cfg = cfg.detector
    if det_cfg.num_classes != len(data.classes):
        det_cfg = DetectorConfig(**{**det_cfg.__dict__, "num_classes": len(data.classes)})
    model = Detector(det_cfg)
    anchors = make_anchors(det_cfg.anchors, cfg.input.height, cfg.input.width).to(device)  # [A, 4]
    model.to(device)
    steps_per_epoch = len(data) // (cfg.batch_size * world)
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size: {cfg.batch_size} x {world} processes exceeds the {len(data)} images")
    total = steps_per_epoch * cfg.epochs
    if cfg.max_iterations is not None:
        total = min(total, cfg.max_iterations)
    augment, pad = Augment(0.5, cfg.jitter_prob, cfg.jitter_min), pad_pixel(cfg.input)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.warmup_iterations, total))
    start_epoch, iteration, seconds_before = 0, 0, 0.0
    evals: list[EvalRecord] = []
    history: list[dict[str, float]] = []
    ckpt_path = out / CHECKPOINT
    if cfg.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, iteration = int(state["epoch"]) + 1, int(state["iteration"])
        evals = [EvalRecord(**e) for e in state["evals"]]
        history = list(state["history"])
        seconds_before = float(state["seconds"])
    net: torch.nn.Module = model
    if world > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    log = (out / METRICS).open("a") if rank == 0 else None
    progress = TrainProgress(enabled=cfg.progress and rank == 0, total=total, done=iteration)
    t_start, images_seen = time.perf_counter(), 0
    epoch = start_epoch - 1
    try:
        with progress:
            for epoch in range(start_epoch, cfg.epochs):
                if iteration >= total or (
                    cfg.stop_after_epochs is not None and epoch >= cfg.stop_after_epochs
                ):
                    break
                gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
                perm = torch.randperm(len(data), generator=gen)  # [M]
                flips, scales = augment.draw(len(data), gen)  # [M], [M]
                flips &= cfg.hflip
                shard = perm[rank : steps_per_epoch * cfg.batch_size * world : world]  # this process's part
                for step in range(steps_per_epoch):
                    if iteration >= total:
                        break
                    t0 = time.perf_counter()
                    idx = shard[step * cfg.batch_size : (step + 1) * cfg.batch_size]  # [B]
                    images, targets = make_batch(data, idx, flips[idx], scales[idx], pad, device)
                    cls_logits, box_deltas = net(images)  # [B, A, C], [B, A, 4]
                    parts = model.head.compute_loss(
                        targets, cls_logits, box_deltas, anchors, det_cfg.anchors, cfg.loss, cfg.loss_params,
                        cfg.box_loss,
                    )  # fmt: skip
                    loss = parts["cls"] + parts["box"]
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"non-finite loss at iteration {iteration}: {parts}")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    opt.step()
                    sched.step()
                    iteration += 1
                    images_seen += len(idx) * world
                    rate = len(idx) * world / max(1e-9, time.perf_counter() - t0)
                    rec: dict[str, float] = {
                        "iteration": iteration, "epoch": epoch, "loss": float(loss.detach()),
                        "cls": float(parts["cls"].detach()), "box": float(parts["box"].detach()),
                        "lr": float(sched.get_last_lr()[0]), "images_per_s": rate,
                    }  # fmt: skip
                    progress.update(rec)
                    if iteration % cfg.log_every == 0 or iteration == total:
                        history.append(rec)
                        if log is not None:
                            log.write(json.dumps({"type": "train", **rec}) + "\n")
                            log.flush()
                if world > 1:
                    # DDP syncs buffers (BatchNorm statistics) from rank 0 at each forward; after the last one
                    # the other ranks hold their own: take rank 0's so every process ends with the same model.
                    for buf in model.buffers():
                        dist.broadcast(buf, src=0)
                last = iteration >= total or epoch == cfg.epochs - 1
                if (
                    rank == 0
                    and val is not None
                    and ((cfg.eval_every and (epoch + 1) % cfg.eval_every == 0) or last)
                ):
                    m = evaluate_detector(model, val, anchors, cfg.post)
                    evals.append(EvalRecord(iteration, epoch, m.mAP, m.mAP50, m.mAP75))
                    progress.note(f"epoch {epoch}: mAP {m.mAP:.3f}  mAP50 {m.mAP50:.3f}  mAP75 {m.mAP75:.3f}")
                    if log is not None:
                        log.write(json.dumps({"type": "eval", **asdict(evals[-1])}) + "\n")
                if rank == 0:
                    state = {
                        "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "epoch": epoch, "iteration": iteration,
                        "evals": [asdict(e) for e in evals], "history": history, "classes": data.classes,
                        "seconds": time.perf_counter() - t_start + seconds_before,
                    }  # fmt: skip
                    torch.save(state, ckpt_path)
                if log is not None:
                    log.flush()
    finally:
        if log is not None:
            log.close()
    session_seconds = time.perf_counter() - t_start
    seconds = session_seconds + seconds_before
    if rank == 0 and (history or evals):
        plot_metrics(out / METRICS, out / "training.png")
    model.eval().cpu()
    final = COCOMetrics(evals[-1].mAP, evals[-1].mAP50, evals[-1].mAP75) if evals else None
    return TrainResult(
        model=model,
        anchors=anchors.cpu(),
        classes=data.classes,
        iterations=iteration,
        epochs=epoch + 1,
        seconds=seconds,
        images_per_second=images_seen / max(1e-9, session_seconds),
        evals=evals,
        history=history,
        final=final,
        out_dir=out,
    )
