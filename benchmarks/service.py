"""Service speed: detection throughput / latency and scoring bandwidth, each against the limits it can reach.

Detection, at concurrency 1, 8 and 32 (images/s, p50 / p99 latency in ms):
  service      the real service over HTTP (``python -m service``, dynamic batching);
  in-process   the same pipeline without HTTP: decode + preprocess (thread pool) + ONNX Runtime at the batch
               size the service can form (min(concurrency, max batch)): the compute limit;
  bare-http    a FastAPI endpoint that only receives the same bytes: the HTTP limit;
  naive        a FastAPI ``def`` handler doing one session call per request (no batching): the baseline.
Ratios: service / min(in-process, bare-http) (target >= 0.85 at 32), service / naive (target >= 1.2 at 32).

Scoring at 8M elements (binary focal loss; elements/s): the in-process ``losses.focal_loss`` call vs the
service with a JSON body and with a binary ``.npz`` body (target binary >= 0.5x in-process). Each row's calls
alternate with in-process calls, and its ratio is over the in-process median of that same stretch: the
machine's load drifts over a run, and a single in-process figure made the ratios drift with it. This process
(the reference calls) and the bare server run with the service's allocator setting
(``FOCALSERVE_MALLOC_KEEP_BYTES``, `service.memory`), so all rows allocate alike.

Every server runs in its own process; the load generator is another process (asyncio + httpx), so it does not
take the server's event loop. Numbers: medians / percentiles of one run on this machine; ratios compare rows
measured in the same run. Rows are functions in ``DETECT_ROWS`` / ``SCORE_ROWS`` (the gRPC side adds its own).

    .venv/bin/python benchmarks/service.py [--model-repository models] [--duration 4] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LOAD = Path(__file__).with_name("service_load.py")
sys.path.insert(0, str(ROOT))

from benchmarks.service_load import free_port, process_cpu_seconds, test_image, wait_ready  # noqa: E402


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


@dataclass
class ScoreMeasurement:
    """One scoring row: median seconds for ``elements``, elements/s, and the in-process median beside it."""

    row: str
    elements: int
    seconds: float
    reference_seconds: float  # the in-process call, timed alternately with this row's calls

    @property
    def rate(self) -> float:
        return self.elements / self.seconds

    @property
    def ratio(self) -> float:
        """This row's throughput over the in-process call's, both from the same stretch of the run."""
        return self.reference_seconds / self.seconds


@dataclass
class Context:
    """What every row needs: the repository, the model, the encoded test image, settings and servers."""

    repository: Path
    model: str
    image: bytes
    duration: float
    max_batch_size: int
    workdir: Path
    service_env: dict[str, str] = field(default_factory=dict)  # extra FOCALSERVE_* for the service
    servers: dict[str, str] = field(default_factory=dict)  # row name -> base URL
    pids: dict[str, int] = field(default_factory=dict)  # row name -> server process id
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


# --- processes
def start_process(
    ctx: Context, name: str, cmd: list[str], ready_path: str, env: dict[str, str] | None = None
) -> str:
    port = free_port()
    log = (ctx.workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [*cmd, "--port" if "-m" not in cmd else "--http-port", str(port)],
        cwd=ROOT,
        env=os.environ | (env or {}),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ctx.procs.append(proc)
    ctx.pids[name] = proc.pid
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, ready_path, proc)
    ctx.servers[name] = url
    return url


def stop_all(ctx: Context) -> None:
    for proc in ctx.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in ctx.procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def service_url(ctx: Context) -> str:
    if "service" not in ctx.servers:
        env = {
            "FOCALSERVE_MAX_BODY_BYTES": str(1 << 30),
            "FOCALSERVE_MAX_BATCH_SIZE": str(ctx.max_batch_size),
            "FOCALSERVE_LOG_LEVEL": "warning",
            "FOCALSERVE_GRPC_MAX_MESSAGE_BYTES": str(1 << 30),
        } | ctx.service_env
        grpc_port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "service",
            "--model-repository",
            str(ctx.repository),
            "--grpc-port",
            str(grpc_port),
        ]
        start_process(ctx, "service", cmd, "/v2/health/ready", env)
        ctx.servers["service-grpc"] = f"127.0.0.1:{grpc_port}"
    return ctx.servers["service"]


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


def bare_server(ctx: Context) -> str:
    """The receive-only reference server (HTTP ``/receive``; gRPC at ``ctx.servers["bare-grpc"]``)."""
    if "bare" not in ctx.servers:
        grpc_port = free_port()
        cmd = [sys.executable, str(LOAD), "_bare", "--grpc-port", str(grpc_port)]
        start_process(ctx, "bare", cmd, "/health")
        ctx.servers["bare-grpc"] = f"127.0.0.1:{grpc_port}"
    return ctx.servers["bare"]


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
    """decode + preprocess (2-thread pool, like the service) + one session call per batch, in this process."""
    from service.preprocess import prepare_image
    from service.repository import scan_repository
    from service.settings import Settings

    settings = Settings(model_repository=ctx.repository)
    mv = scan_repository(ctx.repository).get(ctx.model)
    mv.load(
        preferences=list(settings.execution_providers),
        intra_op_threads=settings.intra_op_threads,
        inter_op_threads=settings.inter_op_threads,
    )
    spec = mv.input_spec()
    batch = min(concurrency, ctx.max_batch_size)
    pool = ThreadPoolExecutor(settings.preprocess_threads)

    def one_batch() -> None:
        prepared = list(pool.map(lambda b: prepare_image(b, spec, max_pixels=10**8), [ctx.image] * batch))
        mv.run({spec.name: np.stack([p.tensor for p in prepared])})

    one_batch()
    times = []
    cpu0 = time.process_time()  # this process: the pool threads and ONNX Runtime's threads included
    started = time.perf_counter()
    while time.perf_counter() - started < ctx.duration:
        t0 = time.perf_counter()
        one_batch()
        times.append(time.perf_counter() - t0)
    cpu_ms = (time.process_time() - cpu0) * 1000 / (batch * len(times))
    pool.shutdown()
    lat = np.asarray(times) * 1000
    rate = batch * len(times) / sum(times)
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


# --- scoring rows
def score_arrays(elements: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 logits and uint8 hard labels (1% positives, the detection imbalance)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(elements) * 3).astype(np.float32)
    y = (rng.random(elements) < 0.01).astype(np.uint8)
    return x, y


def npz_body(elements: int) -> bytes:
    x, y = score_arrays(elements)
    buf = io.BytesIO()
    np.savez(buf, predictions=x, labels=y)
    return buf.getvalue()


def inprocess_call(elements: int) -> Callable[[], Any]:
    """The reference: ``losses.focal_loss`` on the same arrays, in this process."""
    import losses

    x, y = score_arrays(elements)
    return lambda: losses.focal_loss(x, y)


def paired_medians(
    call: Callable[[], Any], reference: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Median seconds of ``call`` and of ``reference``, timed alternately so both see the same machine."""
    call(), reference()  # warm-up
    ours: list[float] = []
    ref: list[float] = []
    for _ in range(repeats):
        for fn, times in ((reference, ref), (call, ours)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(ours), statistics.median(ref)


def score_inprocess(ctx: Context, elements: int) -> ScoreMeasurement:
    call = inprocess_call(elements)
    seconds, again = paired_medians(call, call, 5)
    return ScoreMeasurement("in-process focal_loss", elements, seconds, again)


def score_json(ctx: Context, elements: int) -> ScoreMeasurement:
    import httpx
    import orjson

    x, y = score_arrays(elements)
    doc = {"predictions": np.round(x, 4), "labels": y, "losses": [{"name": "focal"}]}
    body = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    url = service_url(ctx) + "/v1/score"
    with httpx.Client(timeout=600) as client:

        def call() -> None:
            r = client.post(url, content=body, headers={"content-type": "application/json"})
            r.raise_for_status()

        seconds, reference = paired_medians(call, inprocess_call(elements), 2)
    return ScoreMeasurement(f"service JSON ({len(body) / 1e6:.0f} MB)", elements, seconds, reference)


def score_npz(ctx: Context, elements: int) -> ScoreMeasurement:
    import httpx

    body = npz_body(elements)
    url = service_url(ctx) + "/v1/score"
    with httpx.Client(timeout=600) as client:

        def call() -> None:
            headers = {"content-type": "application/x-npz"}
            r = client.post(url, content=body, headers=headers, params={"losses": "focal"})
            r.raise_for_status()

        seconds, reference = paired_medians(call, inprocess_call(elements), 7)
    return ScoreMeasurement(f"service npz ({len(body) / 1e6:.0f} MB)", elements, seconds, reference)


def score_bare_receive(ctx: Context, elements: int) -> ScoreMeasurement:
    """The HTTP limit for the npz row: a bare FastAPI endpoint that only receives the same bytes."""
    import httpx

    bare_server(ctx)
    body = npz_body(elements)
    url = ctx.servers["bare"] + "/receive"
    with httpx.Client(timeout=600) as client:

        def call() -> None:
            r = client.post(url, content=body, headers={"content-type": "application/x-npz"})
            r.raise_for_status()

        seconds, reference = paired_medians(call, inprocess_call(elements), 7)
    return ScoreMeasurement("bare-http receive (same npz)", elements, seconds, reference)


def paired_throughput(
    send: Callable[[], Any], reference: Callable[[], Any], *, in_flight: int, calls: int, rounds: int = 3
) -> tuple[float, float]:
    """Seconds per call with ``in_flight`` calls outstanding (``send`` from that many threads; the next body
    travels while the server computes the last) and the in-process call's median, rounds alternating."""
    from concurrent.futures import ThreadPoolExecutor

    per_call: list[float] = []
    ref: list[float] = []
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(lambda _: send(), range(in_flight)))  # warm-up: a connection per thread
        for _ in range(rounds):
            for _ in range(2):
                t0 = time.perf_counter()
                reference()
                ref.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            list(pool.map(lambda _: send(), range(calls)))
            per_call.append((time.perf_counter() - t0) / calls)
    return statistics.median(per_call), statistics.median(ref)


def score_npz_in_flight(ctx: Context, elements: int, in_flight: int = 2) -> ScoreMeasurement:
    """Scoring throughput: ``in_flight`` npz requests outstanding, one keep-alive client per thread."""
    import threading

    import httpx

    body = npz_body(elements)
    url = service_url(ctx) + "/v1/score"
    local = threading.local()
    clients: list[httpx.Client] = []

    def send() -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=600)
            clients.append(client)
        headers = {"content-type": "application/x-npz"}
        client.post(url, content=body, headers=headers, params={"losses": "focal"}).raise_for_status()

    try:
        seconds, reference = paired_throughput(
            send, inprocess_call(elements), in_flight=in_flight, calls=4 * in_flight
        )
    finally:
        for client in clients:
            client.close()
    return ScoreMeasurement(f"service npz, {in_flight} in flight", elements, seconds, reference)


#: name -> row function (ctx, elements) -> ScoreMeasurement; "in-process" is the reference
SCORE_ROWS: dict[str, Callable[[Context, int], ScoreMeasurement]] = {
    "in-process": score_inprocess,
    "json": score_json,
    "npz": score_npz,
    "bare-http": score_bare_receive,
    "npz-in-flight": score_npz_in_flight,
}


def score_grpc(ctx: Context, elements: int) -> ScoreMeasurement:
    """gRPC ``Score`` with packed arrays (float32 logits, 0/1 labels as uint8); equal to losses' value."""
    import losses
    from benchmarks.service_grpc import grpc_score_times

    service_url(ctx)
    x, y = score_arrays(elements)
    reference = float(losses.focal_loss(x, y))
    remote, local = grpc_score_times(
        ctx.servers["service-grpc"], x, y, repeats=7, reference=reference, interleave=inprocess_call(elements)
    )
    return ScoreMeasurement(
        "service gRPC packed bytes", elements, statistics.median(remote), statistics.median(local)
    )


def score_grpc_in_flight(ctx: Context, elements: int, in_flight: int = 2) -> ScoreMeasurement:
    """gRPC scoring throughput: ``in_flight`` Score calls outstanding on one channel."""
    from benchmarks.service_grpc import grpc_score_pipelined, score_wire

    service_url(ctx)
    wire = score_wire(*score_arrays(elements))
    reference = inprocess_call(elements)
    per_call: list[float] = []
    ref: list[float] = []
    for _ in range(3):
        ref.append(paired_medians(reference, reference, 1)[0])
        per_call.append(
            grpc_score_pipelined(ctx.servers["service-grpc"], wire, in_flight=in_flight, calls=4 * in_flight)
        )
    return ScoreMeasurement(
        f"service gRPC, {in_flight} in flight", elements, statistics.median(per_call), statistics.median(ref)
    )


def score_bare_grpc(ctx: Context, elements: int) -> ScoreMeasurement:
    """The gRPC limit for the gRPC rows: a server with the service's channel arguments that only receives the
    same ``Score`` message."""
    import grpc

    from benchmarks.service_grpc import score_wire

    bare_server(ctx)
    wire = score_wire(*score_arrays(elements))
    options = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
    with grpc.insecure_channel(ctx.servers["bare-grpc"], options=options) as channel:
        send = channel.unary_unary("/focalserve.v1.ScoringService/Score")
        seconds, reference = paired_medians(lambda: send(wire, timeout=120), inprocess_call(elements), 7)
    return ScoreMeasurement("bare-gRPC receive (same msg)", elements, seconds, reference)


SCORE_ROWS["grpc"] = score_grpc
SCORE_ROWS["bare-grpc"] = score_bare_grpc
SCORE_ROWS["grpc-in-flight"] = score_grpc_in_flight


# --- report
def report_detection(results: dict[str, dict[int, Measurement]], concurrencies: list[int]) -> None:
    print("\nDetection (images/s, latency ms; closed loop, one image per request)")
    print(f"{'row':<12} {'conc':>4} {'img/s':>9} {'p50':>8} {'p99':>8} {'err':>4} {'cpu ms/img':>11}")
    for name, by_conc in results.items():
        for c in concurrencies:
            m = by_conc[c]
            print(
                f"{name:<12} {c:>4} {m.throughput:>9.1f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.errors:>4} "
                f"{m.cpu_ms:>11.2f}"
            )
    if {"service", "in-process", "bare-http", "naive"} <= set(results):
        print("\nRatios (service throughput over ...)")
        print(f"{'conc':>4} {'limit':>12} {'vs limit':>9} {'vs naive':>9}")
        for c in concurrencies:
            s = results["service"][c].throughput
            if min(results[n][c].throughput for n in ("in-process", "bare-http", "naive")) <= 0:
                print(f"{c:>4} (a reference row failed)")
                continue
            limit_name = min(("in-process", "bare-http"), key=lambda n: results[n][c].throughput)
            limit = results[limit_name][c].throughput
            print(f"{c:>4} {limit_name:>12} {s / limit:>9.2f} {s / results['naive'][c].throughput:>9.2f}")


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
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--elements", type=int, default=8_000_000)
    parser.add_argument("--rows", nargs="+", default=None, help="detection rows to run (default: all)")
    parser.add_argument(
        "--service-env", nargs="*", default=[], help="extra KEY=VALUE settings for the service"
    )
    parser.add_argument("--skip-detect", action="store_true")
    parser.add_argument("--skip-score", action="store_true")
    args = parser.parse_args()

    from service.memory import keep_large_buffers
    from service.repository import scan_repository
    from service.settings import Settings

    # this process makes the in-process reference calls: give it the service's allocator, as the bare server
    keep_large_buffers(Settings().malloc_keep_bytes)
    model = args.model or scan_repository(args.model_repository).names()[0]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(
            args.model_repository, model, test_image(), args.duration, args.max_batch_size, Path(tmp)
        )
        ctx.service_env = dict(kv.split("=", 1) for kv in args.service_env)
        print(
            f"model {model} ({args.model_repository}); {os.cpu_count()} CPUs; image {len(ctx.image)} B; "
            f"max batch {args.max_batch_size}; {args.duration:g} s per point, median of {args.repeat}"
        )
        try:
            if not args.skip_detect:
                results: dict[str, dict[int, Measurement]] = {}
                rows = {n: r for n, r in DETECT_ROWS.items() if not args.rows or n in args.rows}
                for c in args.concurrency:  # rows of one concurrency back to back: similar machine load
                    runs: dict[str, list[Measurement]] = {name: [] for name in rows}
                    for r in range(args.repeat):  # alternate the order; keep each row's median run
                        for name in list(rows)[:: 1 if r % 2 == 0 else -1]:
                            runs[name].append(rows[name](ctx, c))
                    for name, ms in runs.items():
                        results.setdefault(name, {})[c] = sorted(ms, key=lambda m: m.throughput)[len(ms) // 2]
                report_detection(results, args.concurrency)
            if not args.skip_score:
                print(f"\nScoring, binary focal loss, {args.elements:,} elements")
                scores = {name: row(ctx, args.elements) for name, row in SCORE_ROWS.items()}
                print(f"{'row':<28} {'seconds':>8} {'Melem/s':>9} {'in-process s':>13} {'vs in-process':>14}")
                for m in scores.values():
                    print(
                        f"{m.row:<28} {m.seconds:>8.3f} {m.rate / 1e6:>9.1f} {m.reference_seconds:>13.3f} "
                        f"{m.ratio:>14.2f}"
                    )
                for bare, name in (("bare-http", "HTTP"), ("bare-grpc", "gRPC")):
                    if bare in scores:  # receiving, then computing: the most one request at a time can reach
                        b = scores[bare]
                        ceiling = b.reference_seconds / (b.seconds + b.reference_seconds)
                        print(f"{name} one request at a time can reach at most {ceiling:.2f}x in-process")
        finally:
            stop_all(ctx)


if __name__ == "__main__":
    main()
