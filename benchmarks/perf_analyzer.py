"""Triton's own load generator, perf_analyzer, against the service, unchanged, over HTTP and gRPC.

    sudo .venv/bin/python benchmarks/perf_analyzer.py [--concurrency 8] [--seconds 5] [--rounds 3]

perf_analyzer (PyPI ``perf-analyzer`` 2.60.0) is built for glibc 2.38; Debian 12 has 2.36, so it runs inside a
Debian 13 root (`scripts/perf-analyzer-root.sh`, made on first use: root and debootstrap needed). The root
shares this host's network, so the binary reaches the service on 127.0.0.1.

One service process (``python -m service`` on the default repository, ports 0 read back from its log) takes,
in each round and in turn:

- ``own v2 load``: the project's load generator (`benchmarks/service_load.py`), the reference: closed-loop
  keep-alive connections posting the same v2 request perf_analyzer sends (one random FP32 image tensor, binary
  tensor data) to ``/v2/models/detector/infer``;
- ``perf_analyzer http`` and ``perf_analyzer grpc``: the same model, batch size 1, the same concurrency,
  synchronous requests, random data; perf_analyzer reads the model's config and statistics itself.

Printed: medians over the rounds of throughput, p50 / p99 latency (each tool's own), server CPU per inference
(the service's /proc times over the run divided by the model's success count from its v2 statistics), the load
generator's own CPU per inference (on the same cores: a costlier client leaves the server less), and each
throughput as a ratio of the reference's in the same round; then perf_analyzer's server-side breakdown (queue,
compute input / infer / output, from the service's statistics) of its last round.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.service_load import Service, process_cpu_seconds  # noqa: E402

MAKE_ROOT = ROOT / "scripts" / "perf-analyzer-root.sh"
PERF_ANALYZER = "/opt/pa/bin/perf_analyzer"


@dataclass
class Row:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # server CPU per successful inference
    client_cpu_ms: float  # the load generator's CPU per successful inference (it shares the cores)
    extra: dict[str, float]


def measured(service: Service, model: str, run: Callable[[], dict[str, float]]) -> Row:
    """``run``'s own figures plus the server's CPU per inference over the run."""
    cpu0, ok0 = process_cpu_seconds(service.proc.pid), service.successes(model)
    client0 = _children_cpu_s()
    figures = run()
    cpu1, ok1 = process_cpu_seconds(service.proc.pid), service.successes(model)
    done = max(ok1 - ok0, 1)
    cpu_ms = (cpu1 - cpu0) * 1000 / done
    client_ms = (_children_cpu_s() - client0) * 1000 / done
    rps, p50, p99 = figures.pop("rps"), figures.pop("p50_ms"), figures.pop("p99_ms")
    return Row(rps, p50, p99, cpu_ms, client_ms, figures)


def _children_cpu_s() -> float:
    """User + system CPU of this process's finished children (each load generator is one, run to its end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_load(
    service: Service, shape: list[int], concurrency: int, seconds: float, workdir: Path
) -> dict[str, float]:
    tensor = np.random.default_rng(0).random(shape, dtype=np.float32).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "shape": shape,
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(tensor)},
                }
            ]
        }
    ).encode()
    body = workdir / "v2-body.bin"
    body.write_bytes(header + tensor)
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "service_load.py"),
            "_load",
            f"{service.url}/v2/models/detector/infer",
            str(body),
            "application/octet-stream",
            str(concurrency),
            str(seconds),
            f"Inference-Header-Content-Length: {len(header)}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    stats = json.loads(out)
    if stats["errors"]:
        raise RuntimeError(f"own load: {stats['errors']} of {stats['total']} requests failed")
    return {"rps": stats["rps"], "p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"]}


def perf_analyzer(
    root: Path, protocol: str, port: int, model: str, concurrency: int, seconds: float, extra: list[str]
) -> dict[str, float]:
    """One perf_analyzer run in the root; its CSV report (client latencies, server breakdown) parsed."""
    report = f"/tmp/perf-analyzer-{protocol}.csv"
    cmd = [
        "chroot",
        str(root),
        PERF_ANALYZER,
        "-m",
        model,
        "-u",
        f"127.0.0.1:{port}",
        "-i",
        protocol,
        "--concurrency-range",
        str(concurrency),
        "--measurement-interval",
        str(int(seconds * 1000)),
        "-f",
        report,
        *extra,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"perf_analyzer {protocol} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    with (root / report.lstrip("/")).open() as f:
        (line,) = list(csv.DictReader(f))
    us = {k: float(v) for k, v in line.items()}
    return {
        "rps": us["Inferences/Second"],
        "p50_ms": us["p50 latency"] / 1000,
        "p99_ms": us["p99 latency"] / 1000,
        "queue_ms": us["Server Queue"] / 1000,
        "input_ms": us["Server Compute Input"] / 1000,
        "infer_ms": us["Server Compute Infer"] / 1000,
        "output_ms": us["Server Compute Output"] / 1000,
    }


def ensure_root(root: Path) -> bool:
    """Make the root if missing and mount /proc in it; True when this call mounted it."""
    subprocess.run(["bash", str(MAKE_ROOT), str(root)], check=True)
    proc = root / "proc"
    if subprocess.run(["mountpoint", "-q", str(proc)]).returncode == 0:
        return False
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/var/tmp/focalserve-trixie"))
    ap.add_argument("--repository", type=Path, default=ROOT / "models")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0, help="measurement window of each tool")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("chroot") is None or os.geteuid() != 0:
        raise SystemExit("perf_analyzer runs in a chroot: run this as root")
    mounted = ensure_root(args.root)
    workdir = Path(tempfile.mkdtemp(prefix="perf-analyzer-"))
    service = Service(args.repository, workdir / "service.log")
    try:
        meta = httpx.get(f"{service.url}/v2/models/detector", timeout=10).json()
        (images,) = meta["inputs"]
        shape = [1, *(d if d > 0 else 128 for d in images["shape"][1:])]
        extra = (
            []
            if all(d > 0 for d in images["shape"][1:])
            else ["--shape", "images:" + ",".join(map(str, shape[1:]))]
        )
        c, s = args.concurrency, args.seconds
        rows: dict[str, list[Row]] = {"own v2 load": [], "perf_analyzer http": [], "perf_analyzer grpc": []}
        for _ in range(args.rounds):
            rows["own v2 load"].append(
                measured(service, "detector", lambda: own_load(service, shape, c, s, workdir))
            )
            for protocol, port in (("http", service.http_port), ("grpc", service.grpc_port)):
                run = lambda p=protocol, q=port: perf_analyzer(args.root, p, q, "detector", c, s, extra)  # noqa: E731
                rows[f"perf_analyzer {protocol}"].append(measured(service, "detector", run))
        report(rows, args, shape)
    finally:
        service.stop()
        if mounted:
            subprocess.run(["umount", str(args.root / "proc")], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def report(rows: dict[str, list[Row]], args: argparse.Namespace, shape: list[int]) -> None:
    reference = rows["own v2 load"]
    med = statistics.median
    print(
        f"\ndetector, v2 infer of one FP32 {shape} tensor, concurrency {args.concurrency}, "
        f"{args.seconds:g} s windows, median of {args.rounds} rounds "
        "(ratio: against own v2 load, same round)\n"
    )
    print("| row | infer/s | ratio | p50 ms | p99 ms | server CPU ms/inference | client CPU ms/inference |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        ratio = med(r.rps / ref.rps for r, ref in zip(runs, reference, strict=True))
        print(
            f"| {name} | {med(r.rps for r in runs):.0f} | {ratio:.2f} | {med(r.p50_ms for r in runs):.1f} | "
            f"{med(r.p99_ms for r in runs):.1f} | {med(r.cpu_ms for r in runs):.2f} | "
            f"{med(r.client_cpu_ms for r in runs):.2f} |"
        )
    print("\nperf_analyzer's server-side breakdown (the service's statistics), last round, ms per request:\n")
    print("| row | queue | compute input | compute infer | compute output |")
    print("|---|---|---|---|---|")
    for name in ("perf_analyzer http", "perf_analyzer grpc"):
        e = rows[name][-1].extra
        stages = (e["queue_ms"], e["input_ms"], e["infer_ms"], e["output_ms"])
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in stages) + " |")


if __name__ == "__main__":
    main()
