"""Running the ablation: the same detector, data, seed and schedule once per loss setting.

Each setting trains in its own process (or in this one, `workers=1`) with a fixed thread count and torch's
deterministic algorithms, so a setting's numbers depend only on the config and the seed, not on the order or
the number of workers. A finished setting is cached in `work_dir/results/<key>.json` under a fingerprint of
the config; `reuse=True` picks it up again (e.g. after an interrupted full run).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..preprocess import InputSpec
from ..synthetic import SyntheticConfig
from .report import EvalPoint, SettingResult, results_from_dict
from .settings import SETTINGS, LossSetting

__all__ = [
    "FULL",
    "HARDER",
    "QUICK",
    "AblationConfig",
    "SettingOutcome",
    "prepare_data",
    "run_ablation",
    "run_setting",
    "with_settings",
]

# Models whose loss anatomy is measured: every CE setting (the report shows the best one) and focal gamma 2.
ANATOMY_CANDIDATES = ("ce_a0.25", "ce_a0.5", "ce_a0.75", "fl_g2_a0.25")


@dataclass(frozen=True)
class AblationConfig:
    """Data, schedule and machine settings shared by every loss setting."""

    seed: int = 0
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    train_images: int = 640
    val_images: int = 100
    batch_size: int = 16
    iterations: int = 400
    eval_every: int = 2  # epochs (one epoch = train_images // batch_size iterations)
    lr: float = 2e-3
    warmup_iterations: int = 50
    threads: int = 1
    anatomy_images: int = 50
    settings: tuple[str, ...] = tuple(s.key for s in SETTINGS)

    @property
    def input_spec(self) -> InputSpec:
        """The network input: the images' own size (no letterbox scaling), default normalisation."""
        return InputSpec(height=self.synthetic.height, width=self.synthetic.width)

    @property
    def steps_per_epoch(self) -> int:
        return self.train_images // self.batch_size

    def fingerprint(self) -> str:
        """A short hash of all that changes a setting's numbers: not the selection of settings, not where
        outputs go, not the worker count. A setting cached by a run of some settings serves a run of all."""
        blob = json.dumps({**asdict(self), "settings": None}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def selected(self) -> list[LossSetting]:
        by_key = {s.key: s for s in SETTINGS}
        unknown = [k for k in self.settings if k not in by_key]
        if unknown:
            raise ValueError(f"settings: unknown setting(s) {unknown}; choose from {list(by_key)}")
        return [by_key[k] for k in self.settings]


# Denser and smaller objects than the generator's default: more (and harder) negatives per positive.
FULL = AblationConfig(
    synthetic=SyntheticConfig(min_objects=6, max_objects=16, min_size=10, max_size=32),
)
# Harder still: more and smaller objects (fewer positive anchors each, more clutter), for follow-up checks.
HARDER = AblationConfig(
    synthetic=SyntheticConfig(min_objects=8, max_objects=20, min_size=8, max_size=24),
)
QUICK = AblationConfig(
    synthetic=SyntheticConfig(width=64, height=64, min_objects=2, max_objects=5, min_size=10, max_size=24),
    train_images=16,
    val_images=4,
    batch_size=8,
    iterations=6,
    eval_every=1,
    warmup_iterations=2,
    lr=1e-2,
    anatomy_images=4,
)


@dataclass(frozen=True)
class SettingOutcome:
    """A setting's result and, for the models whose anatomy the report shows, that anatomy (dicts)."""

    result: SettingResult
    anatomy: dict[str, Any] | None


def prepare_data(cfg: AblationConfig, work_dir: Path) -> tuple[Path, Path]:
    """Generate (or find, if already generated for this config) the train and held-out COCO splits."""
    from ..synthetic import generate

    tag = hashlib.sha256(
        json.dumps([asdict(cfg.synthetic), cfg.train_images, cfg.val_images, cfg.seed]).encode()
    ).hexdigest()[:12]
    root = work_dir / f"data-{tag}"
    paths = []
    for split, n, split_seed in (
        ("train", cfg.train_images, 2 * cfg.seed + 1),
        ("val", cfg.val_images, 2 * cfg.seed + 2),
    ):
        ann = root / split / "instances.json"
        if not ann.exists():
            tmp = root / f"{split}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            generate(tmp, n, split_seed, cfg.synthetic)
            shutil.rmtree(root / split, ignore_errors=True)
            tmp.rename(root / split)
        paths.append(ann)
    return paths[0], paths[1]


def _tail_mean(history: Sequence[dict[str, float]], key: str, n: int = 5) -> float:
    tail = [float(h[key]) for h in history[-n:]]
    return sum(tail) / len(tail) if tail else math.nan


def run_setting(
    cfg: AblationConfig, setting: LossSetting, train_ann: Path, val_ann: Path, run_dir: Path
) -> SettingResult:
    """Train once with `setting` (final checkpoint in `run_dir`), evaluate on the held-out split."""
    from ..train import TrainConfig, train

    shutil.rmtree(run_dir, ignore_errors=True)
    spec = cfg.input_spec
    epochs = math.ceil(cfg.iterations / cfg.steps_per_epoch)
    tcfg = TrainConfig(
        train_annotations=str(train_ann),
        val_annotations=str(val_ann),
        out_dir=str(run_dir),
        loss=setting.loss,
        loss_params=dict(setting.params),
        epochs=epochs,
        max_iterations=cfg.iterations,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        warmup_iterations=cfg.warmup_iterations,
        seed=cfg.seed,
        eval_every=cfg.eval_every,
        log_every=10 if cfg.iterations >= 100 else 1,
        threads=cfg.threads,
        progress=False,
        input=spec,
    )
    with _deterministic(cfg.threads):
        t0 = time.perf_counter()
        res = train(tcfg)
        seconds = time.perf_counter() - t0
    return SettingResult(
        setting=setting,
        evals=tuple(EvalPoint(e.iteration, e.mAP, e.mAP50, e.mAP75) for e in res.evals),
        final_train_loss=_tail_mean(res.history, "loss"),
        final_box_loss=_tail_mean(res.history, "box"),
        seconds=seconds,
        iterations=res.iterations,
    )


@contextmanager
def _deterministic(threads: int) -> Iterator[None]:
    """Torch's deterministic algorithms and a fixed thread count, restored afterwards."""
    import torch

    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        torch.set_num_threads(threads_before)


def _job(cfg: AblationConfig, key: str, train_ann: str, val_ann: str, work_dir: str) -> dict[str, Any]:
    """One setting, in a worker process; returns plain dicts (picklable, and what the cache stores)."""
    setting = next(s for s in SETTINGS if s.key == key)
    result = run_setting(cfg, setting, Path(train_ann), Path(val_ann), Path(work_dir) / "runs" / key)
    return {"fingerprint": cfg.fingerprint(), "result": result.to_dict()}


def _load_cached(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        blob: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return blob if blob.get("fingerprint") == fingerprint else None


def run_ablation(
    cfg: AblationConfig,
    work_dir: Path,
    *,
    workers: int = 1,
    reuse: bool = False,
    log: Callable[[str], None] = print,
) -> list[SettingOutcome]:
    """Train every selected setting (in `workers` processes); results in the order of `cfg.settings`."""
    if workers < 1:
        raise ValueError(f"workers: must be at least 1, got {workers}")
    if cfg.steps_per_epoch < 1:
        raise ValueError(f"batch_size: {cfg.batch_size} exceeds train_images {cfg.train_images}")
    selected = cfg.selected()
    train_ann, val_ann = prepare_data(cfg, work_dir)
    cache = work_dir / "results"
    cache.mkdir(parents=True, exist_ok=True)
    fp = cfg.fingerprint()
    blobs: dict[str, dict[str, Any]] = {}
    todo = []
    for s in selected:
        hit = _load_cached(cache / f"{s.key}.json", fp) if reuse else None
        if hit is not None:
            blobs[s.key] = hit
            log(f"{s.key}: reused {cache / f'{s.key}.json'}")
        else:
            todo.append(s.key)

    def done(key: str, blob: dict[str, Any]) -> None:
        blobs[key] = blob
        (cache / f"{key}.json").write_text(json.dumps(blob, indent=1))
        r = blob["result"]
        final = r["evals"][-1]["ap"] if r["evals"] else 0.0
        log(f"{key}: AP {100 * final:.1f} after {r['iterations']} iterations, {r['seconds']:.0f} s")

    args = (str(train_ann), str(val_ann), str(work_dir))
    if workers == 1 or len(todo) <= 1:
        for key in todo:
            done(key, _job(cfg, key, *args))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_job, cfg, key, *args): key for key in todo}
            for fut in as_completed(futures):
                done(futures[fut], fut.result())
    from .anatomy import anatomy_from_run

    outcomes = []
    for s in selected:
        anatomy = None
        run_dir = work_dir / "runs" / s.key
        if s.key in ANATOMY_CANDIDATES and (run_dir / "checkpoint.pt").exists():
            with _deterministic(cfg.threads):
                anatomy = anatomy_from_run(
                    run_dir, val_ann, cfg.input_spec, s.loss, s.params, cfg.anatomy_images
                )
        elif s.key in ANATOMY_CANDIDATES:
            log(f"{s.key}: no checkpoint in {run_dir}, so no loss anatomy")
        outcomes.append(SettingOutcome(results_from_dict(blobs[s.key]["result"]), anatomy))
    return outcomes


def with_settings(cfg: AblationConfig, keys: Sequence[str]) -> AblationConfig:
    """`cfg` restricted to the setting keys given (in that order)."""
    return replace(cfg, settings=tuple(keys))
