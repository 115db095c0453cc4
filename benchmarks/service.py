"""Service speed: detection throughput / latency and scoring bandwidth, each against the limits it can reach.

Detection, at concurrency 1, 8 and 32 (images/s, p50 / p99 latency in ms):
  service      the real service over HTTP (``python -m service``, dynamic batching);
  in-process   the same pipeline without HTTP: decode + preprocess (thread pool) + ONNX Runtime at the batch
               size the service can form (min(concurrency, max batch)), with as many batches at once as the
               service's ``model_instances``: the compute limit;
  bare-http    a FastAPI endpoint that only receives the same bytes: the HTTP limit;
  naive        a FastAPI ``def`` handler doing one session call per request (no batching): the baseline.
Ratios: service / min(in-process, bare-http) (target >= 0.85 at 32), service / naive (target >= 1.2 at 32),
taken per round (every row once, back to back) and shown as the median with the range over rounds.

Scoring at 8M elements (binary focal loss; elements/s): the in-process ``losses.focal_loss`` call vs the
service with a JSON body and with a binary ``.npz`` body (target binary >= 0.5x in-process). Each row's calls
alternate with in-process calls, and its ratio is over the in-process median of that same stretch: the
machine's load drifts over a run, and a single in-process figure made the ratios drift with it. This process
(the reference calls) and the bare server run with the service's allocator setting
(``FOCALSERVE_MALLOC_KEEP_BYTES``, `service.core.memory`), so all rows allocate alike.

Every server runs in its own process; the load generator is another process (asyncio + httpx), so it does not
take the server's event loop. Numbers: medians / percentiles of one run on this machine; ratios compare rows
measured in the same run. Rows are functions in ``DETECT_ROWS`` here and ``SCORE_ROWS`` in
``service_score.py``; the servers they start are in ``service_servers.py``.

    .venv/bin/python benchmarks/service.py [--model-repository models] [--duration 4] [--concurrency 1 8 32]
        [--service-env FOCALSERVE_MODEL_INSTANCES=2 ...]   (settings for every row, not only the service)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.service_load import process_cpu_seconds, test_image  # noqa: E402
from benchmarks.service_score import SCORE_ROWS, report_scoring  # noqa: E402
from benchmarks.service_servers import (  # noqa: E402
    LOAD,
    Context,
    bare_server,
    service_url,
    start_process,
    stop_all,
)


# --- measurements
@dataclass
class Measurement:
    """One detection row at one concurrency: images/s and latency percentiles (ms)."""

    row: str
    concurrency: int
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    cpu_ms: float = float("nan")  # server (or pipeline) CPU milliseconds per image, all threads


# --- load generator
def run_load(
    url: str,
    body: bytes,
    content_type: str,
    concurrency: int,
    duration: float,
    ctx: Context,
    server: str = "",
) -> Measurement:
    """Closed-loop load from another process: ``concurrency`` clients, each sending again on reply.

    With ``server`` (a row name in ``ctx.pids``), also the server's CPU time per request (all its threads):
    a figure the other processes on a shared machine do not distort the way they distort throughput.
    """
    pid = ctx.pids.get(server)
    cpu0 = process_cpu_seconds(pid) if pid else 0.0
    body_file = ctx.workdir / "body.bin"
    body_file.write_bytes(body)
    out = subprocess.run(
        [
            sys.executable,
            str(LOAD),
            "_load",
            url,
            str(body_file),
            content_type,
            str(concurrency),
            str(duration),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    stats = json.loads(out.stdout)
    m = Measurement("", concurrency, stats["rps"], stats["p50_ms"], stats["p99_ms"], stats["errors"])
    if pid and stats["total"]:
        m.cpu_ms = (process_cpu_seconds(pid) - cpu0) * 1000 / stats["total"]
    return m


# --- detection rows
def detect_service(ctx: Context, concurrency: int) -> Measurement:
    url = service_url(ctx) + f"/v1/models/{ctx.model}/detect"
    return run_load(url, ctx.image, "image/jpeg", concurrency, ctx.duration, ctx, server="service")


def detect_bare(ctx: Context, concurrency: int) -> Measurement:
    url = bare_server(ctx) + "/receive"
    return run_load(url, ctx.image, "image/jpeg", concurrency, ctx.duration, ctx, server="bare")


def detect_naive(ctx: Context, concurrency: int) -> Measurement:
    if "naive" not in ctx.servers:
        start_process(
            ctx, "naive", [sys.executable, str(LOAD), "_naive", str(ctx.repository), ctx.model], "/health"
        )
    url = ctx.servers["naive"] + "/detect"
    return run_load(url, ctx.image, "image/jpeg", concurrency, ctx.duration, ctx, server="naive")


def detect_inprocess(ctx: Context, concurrency: int) -> Measurement:
    """decode + preprocess (a thread pool, like the service) + one session call per batch, in this process,
    with ``model_instances`` batches running at once as in the service's batcher."""
    from service.core.preprocess import prepare_image
    from service.core.repository import scan_repository
    from service.settings import Settings

    settings = Settings(model_repository=ctx.repository)
    mv = scan_repository(ctx.repository).get(ctx.model)
    mv.load(
        preferences=list(settings.execution_providers),
        intra_op_threads=settings.intra_op_threads,
        inter_op_threads=settings.inter_op_threads,
    )
    spec = mv.input_spec()
    loops = min(settings.model_instances, concurrency)  # batches running at once, as the service can
    batch = min(ctx.max_batch_size, max(1, concurrency // loops))
    pool = ThreadPoolExecutor(settings.preprocess_threads)

    def one_batch() -> None:
        prepared = list(pool.map(lambda b: prepare_image(b, spec, max_pixels=10**8), [ctx.image] * batch))
        mv.run({spec.name: np.stack([p.tensor for p in prepared])})

    def batch_loop(until: float) -> list[float]:
        times = []
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            one_batch()
            times.append(time.perf_counter() - t0)
        return times

    one_batch()
    cpu0 = time.process_time()  # this process: the pool threads and ONNX Runtime's threads included
    started = time.perf_counter()
    with ThreadPoolExecutor(loops) as runners:
        runs = list(runners.map(batch_loop, [started + ctx.duration] * loops))
    elapsed = time.perf_counter() - started
    times = [t for run in runs for t in run]
    cpu_ms = (time.process_time() - cpu0) * 1000 / (batch * len(times))
    pool.shutdown()
    lat = np.asarray(times) * 1000
    rate = batch * len(times) / elapsed
    return Measurement(
        "", concurrency, rate, float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), 0, cpu_ms
    )


#: name -> row function (ctx, concurrency) -> Measurement; the gRPC side registers more rows here
DETECT_ROWS: dict[str, Callable[[Context, int], Measurement]] = {
    "service": detect_service,
    "in-process": detect_inprocess,
    "bare-http": detect_bare,
    "naive": detect_naive,
}


def detect_grpc(ctx: Context, concurrency: int) -> Measurement:
    """The same service over gRPC ``Detect`` (benchmarks/service_grpc.py: grpc.aio load, another process)."""
    from benchmarks.service_grpc import grpc_detect_load

    service_url(ctx)
    s = grpc_detect_load(ctx.servers["service-grpc"], ctx.model, ctx.image, concurrency, ctx.duration)
    return Measurement("", concurrency, s["rps"], s["p50_ms"], s["p99_ms"], s["errors"])


DETECT_ROWS["grpc"] = detect_grpc


# --- report
def round_ratios(runs: dict[str, list[Measurement]]) -> tuple[str, list[float], list[float]] | None:
    """Per round: service over the slower limit of that round, and over naive of that round.

    The rows of one round run back to back, so each round's ratio compares rows under the same machine load;
    load drifts between rounds on a shared host, which moves every row of a round together. Returns the
    limit that was slower in most rounds, and the two ratio lists (None if a reference row failed).
    """
    if any(m.throughput <= 0 for n in ("in-process", "bare-http", "naive") for m in runs[n]):
        return None
    vs_limit, vs_naive, slower = [], [], []
    for r, service in enumerate(runs["service"]):
        limit = min(("in-process", "bare-http"), key=lambda n: runs[n][r].throughput)
        slower.append(limit)
        vs_limit.append(service.throughput / runs[limit][r].throughput)
        vs_naive.append(service.throughput / runs["naive"][r].throughput)
    return max(("in-process", "bare-http"), key=slower.count), vs_limit, vs_naive  # a tie: in-process


def report_detection(runs: dict[str, dict[int, list[Measurement]]], concurrencies: list[int]) -> None:
    """The median round of each row, then the per-round ratios: median and range."""
    print("\nDetection (images/s, latency ms; closed loop, one image per request; the median round)")
    print(f"{'row':<12} {'conc':>4} {'img/s':>9} {'p50':>8} {'p99':>8} {'err':>4} {'cpu ms/img':>11}")
    for name, by_conc in runs.items():
        for c in concurrencies:
            m = sorted(by_conc[c], key=lambda m: m.throughput)[len(by_conc[c]) // 2]
            print(
                f"{name:<12} {c:>4} {m.throughput:>9.1f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.errors:>4} "
                f"{m.cpu_ms:>11.2f}"
            )
    if not {"service", "in-process", "bare-http", "naive"} <= set(runs):
        return
    print("\nRatios (service throughput over ..., per round: median [min-max])")
    print(f"{'conc':>4} {'limit':>12} {'vs limit':>18} {'vs naive':>18}")
    for c in concurrencies:
        ratios = round_ratios({n: runs[n][c] for n in ("service", "in-process", "bare-http", "naive")})
        if ratios is None:
            print(f"{c:>4} (a reference row failed)")
            continue
        limit_name, vs_limit, vs_naive = ratios
        print(f"{c:>4} {limit_name:>12} {_spread(vs_limit):>18} {_spread(vs_naive):>18}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-repository", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default=None, help="model name (default: the first in the repository)")
    parser.add_argument(
        "--duration", type=float, default=4.0, help="seconds measured per row and concurrency"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds per concurrency; the median run is shown"
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=None,
        help="the service's FOCALSERVE_MAX_BATCH_SIZE (default: its setting, capped by config.pbtxt)",
    )
    parser.add_argument("--elements", type=int, default=8_000_000)
    parser.add_argument("--rows", nargs="+", default=None, help="detection rows to run (default: all)")
    parser.add_argument(
        "--service-env", nargs="*", default=[], help="FOCALSERVE_*=VALUE settings for every row"
    )
    parser.add_argument("--skip-detect", action="store_true")
    parser.add_argument("--skip-score", action="store_true")
    args = parser.parse_args()

    from service.core.memory import keep_large_buffers
    from service.core.repository import scan_repository
    from service.settings import Settings

    # every row runs with the same settings: the in-process pipeline here, the naive server, the service
    service_env = dict(kv.split("=", 1) for kv in args.service_env)
    os.environ.update(service_env)
    # this process makes the in-process reference calls: give it the service's allocator, as the bare server
    keep_large_buffers(Settings().malloc_keep_bytes)
    registry = scan_repository(args.model_repository)
    model = args.model or registry.names()[0]
    if args.max_batch_size is None:  # what the service forms
        args.max_batch_size = registry.get(model).batch_limit(Settings().max_batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(
            args.model_repository, model, test_image(), args.duration, args.max_batch_size, Path(tmp)
        )
        ctx.service_env = service_env
        print(
            f"model {model} ({args.model_repository}); {os.cpu_count()} CPUs; image {len(ctx.image)} B; "
            f"max batch {args.max_batch_size}; {args.duration:g} s per point, median of {args.repeat}"
        )
        try:
            if not args.skip_detect:
                rows = {n: r for n, r in DETECT_ROWS.items() if not args.rows or n in args.rows}
                runs: dict[str, dict[int, list[Measurement]]] = {name: {} for name in rows}
                for c in args.concurrency:  # rows of one concurrency back to back: similar machine load
                    for r in range(args.repeat):  # a round: every row once, in alternating order
                        for name in list(rows)[:: 1 if r % 2 == 0 else -1]:
                            runs[name].setdefault(c, []).append(rows[name](ctx, c))
                report_detection(runs, args.concurrency)
            if not args.skip_score:
                print(f"\nScoring, binary focal loss, {args.elements:,} elements")
                scores = {name: row(ctx, args.elements) for name, row in SCORE_ROWS.items()}
                report_scoring(scores)
        finally:
            stop_all(ctx)


if __name__ == "__main__":
    main()
