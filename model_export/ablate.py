"""`python -m model_export ablate`: CE vs truncated CE vs focal loss, one detector, data, seed and schedule.

Writes to `--out` (default `results/ablation`): `ablation.md` (the table beside the paper's AP, and the
answers computed from it), `results.json`, `ap_vs_iterations.png`, `figure1.png`, `anatomy.png`,
`anatomy_by_gamma.png` and `anatomy.json` (paper figure 4 for the best CE model and the focal gamma 2 model).
See docs/ablation.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from .ablation.report import SettingResult, best_by_family, markdown_table, results_from_dict
from .ablation.runner import FULL, HARDER, QUICK, AblationConfig, SettingOutcome, run_ablation
from .ablation.settings import SETTINGS, describe_params
from .ablation.summary import FOCAL_KEY, anatomy_lines, summary_lines

__all__ = [
    "ablate",
    "ablate_cmd",
    "draw_figures",
    "redraw_figures",
    "schedule_title",
    "select_anatomies",
    "write_outputs",
]

KEYS = tuple(s.key for s in SETTINGS)


def select_anatomies(outcomes: Sequence[SettingOutcome]) -> dict[str, dict[str, Any]]:
    """The anatomies the report shows: the best CE model under its CE, the focal gamma 2 model under FL."""
    results = [o.result for o in outcomes]
    by_key = {o.result.setting.key: o for o in outcomes}
    chosen: dict[str, dict[str, Any]] = {}
    ce = best_by_family([r for r in results if by_key[r.setting.key].anatomy]).get("CE")
    if ce is not None:
        anat = by_key[ce.setting.key].anatomy
        assert anat is not None
        chosen[f"CE model ({describe_params(ce.setting.params)}), CE loss"] = anat["own"]
    focal = by_key.get(FOCAL_KEY)
    if focal is not None and focal.anatomy is not None:
        chosen["FL model (alpha 0.25, gamma 2), FL gamma 2 loss"] = focal.anatomy["own"]
    return chosen


def _curves(anatomies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from .figures import AnatomyCurves

    out = {}
    for label, a in anatomies.items():
        if a["cumulative_positive"] is None or a["cumulative_negative"] is None:
            continue
        tail = a.get("tail") or {}
        has_tail = tail.get("negative") is not None
        out[label] = AnatomyCurves(
            tuple(a["fractions"]),
            tuple(a["cumulative_positive"]),
            tuple(a["cumulative_negative"]),
            tuple(tail["fractions"]) if has_tail else (),
            tuple(tail["negative"]) if has_tail else (),
        )
    return out


def schedule_title(cfg: AblationConfig, smoke: bool = False) -> str:
    """What a figure shows, in one line: the schedule and data of the run (and whether it is a smoke run)."""
    syn = cfg.synthetic
    text = (
        f"{cfg.iterations} iterations, batch {cfg.batch_size}, lr {cfg.lr:g}, seed {cfg.seed}; "
        f"{cfg.train_images} training images {syn.width}x{syn.height}"
    )
    return f"SMOKE RUN (--quick): {text}; numbers mean nothing" if smoke else text


SMOKE_NOTE = (
    "**This is a smoke run (`--quick`)**: a few iterations on a few tiny images, to check that every setting "
    "trains, evaluates and writes its files. Its APs are about 0 and say nothing about the losses, so this "
    "report draws no conclusions from them; run `python -m model_export ablate` for the real comparison."
)


def _markdown(
    cfg: AblationConfig,
    results: Sequence[SettingResult],
    anat: dict[str, dict[str, Any]],
    by_gamma: dict[str, dict[str, Any]],
    smoke: bool = False,
) -> str:
    syn = cfg.synthetic
    if smoke:
        return "\n".join(
            [
                "# Loss ablation: smoke run",
                "",
                SMOKE_NOTE,
                "",
                schedule_title(cfg) + ".",
                "",
                markdown_table(results),
            ]
        )
    out = [
        "# Loss ablation: CE, truncated CE, focal loss",
        "",
        f"Same detector, data, seed ({cfg.seed}) and schedule for every row: {cfg.train_images} training "
        f"and {cfg.val_images} held-out synthetic {syn.width}x{syn.height} images "
        f"({syn.min_objects}-{syn.max_objects} objects of {syn.min_size}-{syn.max_size} px each), batch "
        f"{cfg.batch_size}, {cfg.iterations} iterations (AdamW, lr {cfg.lr:g}, warm-up "
        f"{cfg.warmup_iterations}, cosine), evaluated every {cfg.eval_every * cfg.steps_per_epoch} "
        f"iterations, {cfg.threads} torch thread(s) per run. AP is COCO AP@[.5:.95] on the held-out split, "
        "in percent. 'paper AP' is RetinaNet-50 on COCO (Lin et al. 2017, Table 1 and appendix): a reference "
        "for the ordering, not for the values. Train losses are per positive anchor and differ in kind "
        "between rows; the box loss is the same loss in every row.",
        "",
        markdown_table(results),
        "## What the numbers say",
        "",
        *summary_lines(results),
        "",
        "## Loss anatomy at the end of training (paper figure 4)",
        "",
        f"Elements are anchor x class pairs of the first {cfg.anatomy_images} held-out images (ignored "
        "anchors left out).",
        "",
        "Each model under the loss it was trained with:",
        "",
        *anatomy_lines(anat),
        "",
        "The paper's figure 4 proper: the one focal (gamma 2) model, scored under each gamma:",
        "",
        *anatomy_lines({f"FL model scored with gamma {g}": a for g, a in by_gamma.items()}),
        "",
    ]
    return "\n".join(out)


def write_outputs(
    cfg: AblationConfig, outcomes: Sequence[SettingOutcome], out: Path, smoke: bool = False
) -> list[Path]:
    """Write the table, JSON and plots to `out`; returns the paths written. A `smoke` run (`--quick`) says
    so in its report and figures and draws no conclusions."""
    out.mkdir(parents=True, exist_ok=True)
    results = [o.result for o in outcomes]
    anat = select_anatomies(outcomes)
    written = [out / "ablation.md", out / "results.json", out / "anatomy.json"]
    config = {**asdict(cfg), "fingerprint": cfg.fingerprint()}
    written[1].write_text(json.dumps({"config": config, "results": [r.to_dict() for r in results]}, indent=1))
    focal = next((o for o in outcomes if o.result.setting.key == FOCAL_KEY), None)
    by_gamma = focal.anatomy.get("by_gamma", {}) if focal is not None and focal.anatomy else {}
    written[0].write_text(_markdown(cfg, results, anat, by_gamma, smoke))
    written[2].write_text(json.dumps({"models": anat, "focal_model_by_gamma": by_gamma}, indent=1))
    return written + draw_figures(cfg, results, anat, by_gamma, out, smoke)


def draw_figures(
    cfg: AblationConfig,
    results: Sequence[SettingResult],
    anat: dict[str, dict[str, Any]],
    by_gamma: dict[str, dict[str, Any]],
    out: Path,
    smoke: bool = False,
) -> list[Path]:
    """The four figures of a run, each titled with its models and schedule."""
    from .figures import plot_anatomy, plot_ap_curves, plot_figure1

    title = schedule_title(cfg, smoke)
    series = {
        f"{r.setting.family} {describe_params(r.setting.params)}": [(e.iteration, e.ap) for e in r.evals]
        for r in results
    }
    paper = {f"FL model under gamma {g}": a for g, a in by_gamma.items()}
    return [
        plot_ap_curves(series, out / "ap_vs_iterations.png", f"Validation AP; {title}"),
        plot_figure1(out / "figure1.png"),
        plot_anatomy(
            _curves(anat), out / "anatomy.png", f"Loss anatomy, each model under its own loss; {title}"
        ),
        plot_anatomy(
            _curves(paper),
            out / "anatomy_by_gamma.png",
            f"The focal (gamma 2) model scored under each gamma; {title}",
        ),
    ]


def redraw_figures(out: Path) -> list[Path]:
    """Draw a finished run's figures again from its `results.json` and `anatomy.json` (no training)."""
    from .synthetic import SyntheticConfig

    blob = json.loads((out / "results.json").read_text())
    anatomy = json.loads((out / "anatomy.json").read_text())
    d = {k: v for k, v in blob["config"].items() if k in {f.name for f in fields(AblationConfig)}}
    cfg = AblationConfig(
        **{**d, "synthetic": SyntheticConfig(**d["synthetic"]), "settings": tuple(d["settings"])}
    )
    results = [results_from_dict(r) for r in blob["results"]]
    return draw_figures(cfg, results, anatomy["models"], anatomy["focal_model_by_gamma"], out)


def ablate(
    cfg: AblationConfig,
    out: Path,
    work_dir: Path,
    *,
    workers: int = 1,
    reuse: bool = False,
    smoke: bool = False,
) -> list[SettingOutcome]:
    """Run every setting of `cfg` and write the outputs to `out`."""
    outcomes = run_ablation(cfg, work_dir, workers=workers, reuse=reuse)
    write_outputs(cfg, outcomes, out, smoke=smoke)
    return outcomes


def ablate_cmd(
    out: Annotated[
        Path | None,
        typer.Option(help="table, JSON, plots [default: results/ablation; --quick: under work-dir]"),
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="data, runs, cache [default: runs/ablation, runs/ablation-quick]")
    ] = None,
    quick: Annotated[bool, typer.Option(help="a tiny run (seconds): small data and schedule")] = False,
    harder: Annotated[bool, typer.Option(help="more and smaller objects (HARDER); not with --quick")] = False,
    seed: Annotated[int, typer.Option()] = 0,
    workers: Annotated[int, typer.Option(min=1, help="settings trained in parallel processes")] = 1,
    iterations: Annotated[int | None, typer.Option(min=1, help="override the schedule's length")] = None,
    eval_every: Annotated[
        int | None, typer.Option(min=1, help="evaluate every this many epochs (training is unchanged)")
    ] = None,
    only: Annotated[list[str] | None, typer.Option(help=f"setting keys: {', '.join(KEYS)}")] = None,
    reuse: Annotated[
        bool, typer.Option(help="reuse finished settings cached in work_dir for this config")
    ] = False,
) -> None:
    """Train once per loss setting (CE, focal, FL*, hard/soft-truncated CE) and compare COCO AP."""
    if quick and harder:
        raise typer.BadParameter("choose one of --quick and --harder", param_hint="--harder")
    cfg = replace(QUICK if quick else HARDER if harder else FULL, seed=seed)
    # A quick or harder run never lands on the full run's directories (quick: nor on any results).
    work_dir = work_dir or Path(
        "runs/ablation-quick" if quick else "runs/ablation-harder" if harder else "runs/ablation"
    )
    out = out or (
        work_dir / "out" if quick else Path("results/ablation/harder_task" if harder else "results/ablation")
    )
    if iterations is not None:
        cfg = replace(cfg, iterations=iterations)
    if eval_every is not None:
        cfg = replace(cfg, eval_every=eval_every)
    if only:
        cfg = replace(cfg, settings=tuple(only))
    try:
        cfg.selected()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    t0 = time.perf_counter()
    outcomes = ablate(cfg, out, work_dir, workers=workers, reuse=reuse, smoke=quick)
    typer.echo(markdown_table([o.result for o in outcomes]))
    typer.echo(f"wrote {out} in {time.perf_counter() - t0:.0f} s")
    if quick:
        typer.echo("a smoke run: the APs above only show that every setting runs; they compare nothing")
