"""``focalserve-score``: score a Parquet dataset on Dask, per-row values to Parquet, the summary to JSON.

    focalserve-score data/*.parquet --predictions logit --labels label --kind binary \\
        --losses focal,cross_entropy --set focal.gamma=2 --out scores.parquet --summary summary.json

Local by default (a Dask cluster started in this process on this machine's cores, ``--workers``); with
``--address tcp://scheduler:8786`` on that cluster (its workers need this package and the input and output
paths). The summary has the keys of ``GET /v1/score/sessions/{id}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from service.core.scoring import ScoreOptions
from service.errors import InvalidInput

from .columns import ColumnError
from .job import Job, expand_inputs, plan, run

__all__ = ["app", "main", "options_from_flags"]

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def options_from_flags(
    kind: str,
    loss_names: str,
    settings: list[str],
    *,
    probabilities: bool,
    anatomy: bool,
    per_class: bool,
    calibration_bins: int | None,
) -> ScoreOptions:
    """`ScoreOptions` from the flags: ``--losses a,b`` and ``--set a.param=JSON`` (every loss named ``a``)."""
    names = [n.strip() for n in loss_names.split(",") if n.strip()]
    specs: list[dict[str, Any]] = [{"name": n} for n in names]
    for item in settings:
        target, sep, raw = item.partition("=")
        loss, dot, param = target.partition(".")
        if not sep or not dot or loss not in names:
            raise typer.BadParameter(
                f"{item!r}: write LOSS.PARAM=VALUE for a loss in --losses", param_hint="--set"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare word, e.g. reduction=sum
        for spec in specs:
            if spec["name"] == loss:
                spec[param] = value
    doc: dict[str, Any] = {"kind": kind, "from_logits": not probabilities, "losses": specs}
    doc.update(anatomy=anatomy, per_class=per_class, calibration_bins=calibration_bins)
    return ScoreOptions.model_validate(doc)


def _columns(value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip())


@app.command()
def score(
    inputs: Annotated[list[str], typer.Argument(help="Parquet files, directories or globs.")],
    predictions: Annotated[str, typer.Option(help="Column of predictions (lists), or one per class: a,b,c.")],
    labels: Annotated[str, typer.Option(help="Column of labels (lists or class indices), or one per class.")],
    kind: Annotated[str, typer.Option(help="binary (also multilabel) or multiclass.")] = "binary",
    losses: Annotated[str, typer.Option("--losses", help="Comma-separated loss names.")] = "focal",
    set_: Annotated[list[str], typer.Option("--set", help="LOSS.PARAM=VALUE (JSON), repeatable.")] = [],  # noqa: B006
    probabilities: Annotated[bool, typer.Option(help="Predictions are probabilities, not logits.")] = False,
    anatomy: Annotated[bool, typer.Option(help="The first loss's anatomy (binary).")] = False,
    per_class: Annotated[bool, typer.Option(help="Per-class sums and means.")] = False,
    calibration_bins: Annotated[int | None, typer.Option(help="Reliability bins: ECE, MCE.")] = None,
    gradient: Annotated[bool, typer.Option(help="Also write d(loss)/d(logits) per row.")] = False,
    out: Annotated[Path | None, typer.Option(help="Per-row values: a Parquet dataset directory.")] = None,
    summary: Annotated[Path | None, typer.Option(help="The merged summary (JSON); default stdout.")] = None,
    address: Annotated[str | None, typer.Option(help="A Dask scheduler; default: a local cluster.")] = None,
    workers: Annotated[int, typer.Option(help="Local cluster: worker processes.")] = os.cpu_count() or 1,
    rows_per_task: Annotated[int, typer.Option(help="Rows a task scores (whole row groups).")] = 1_000_000,
    progress: Annotated[bool, typer.Option(help="A progress bar on stderr.")] = True,
) -> None:
    """Score INPUTS; per-row values to --out, the summary (a scoring session's result) to --summary."""
    try:
        options = options_from_flags(
            kind,
            losses,
            set_,
            probabilities=probabilities,
            anatomy=anatomy,
            per_class=per_class,
            calibration_bins=calibration_bins,
        )
    except ValueError as exc:  # pydantic's ValidationError is one
        raise typer.BadParameter(str(exc)) from None
    if out is not None and out.exists() and any(out.iterdir()):
        raise typer.BadParameter(f"{out} exists and is not empty", param_hint="--out")
    job = Job(
        options.model_dump_json(exclude_unset=True),
        _columns(predictions),
        _columns(labels),
        None if out is None else str(out),
        gradient,
    )
    try:
        total = sum(f.rows for f in plan(expand_inputs(inputs), rows_per_task))
        result = _run(
            inputs,
            job,
            address=address,
            workers=workers,
            rows_per_task=rows_per_task,
            total=total,
            progress=progress,
        )
    except (FileNotFoundError, ColumnError, InvalidInput) as exc:
        typer.echo(f"focalserve-score: {exc}", err=True)
        raise typer.Exit(2) from None
    text = json.dumps(result, indent=2)
    if summary is None:
        typer.echo(text)
    else:
        summary.write_text(text + "\n")


def _run(
    inputs: list[str],
    job: Job,
    *,
    address: str | None,
    workers: int,
    rows_per_task: int,
    total: int,
    progress: bool,
) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    columns = (
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress or not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("rows", total=total)
        with contextlib.ExitStack() as stack:
            if address is None:  # a local cluster on this machine's cores, one process a worker
                cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
                client = stack.enter_context(Client(stack.enter_context(cluster)))
            else:
                client = stack.enter_context(Client(address))
            return run(
                inputs,
                job,
                client=client,
                rows_per_task=rows_per_task,
                on_rows=lambda n: bar.advance(task, n),
            )


def main() -> None:
    app(prog_name="focalserve-score")
