"""A model swap under load: requests answered during the swap, failures, and latency during and outside it.

    .venv/bin/python benchmarks/swap.py [--clients 8] [--swaps 3] [--gap 6]

The service runs in ``poll`` model control mode (re-reading the repository every 0.5 s) on a copy of the
default repository (``detector``, ``version_policy: latest 1``). Closed-loop clients (keep-alive HTTP/1.1 on
raw asyncio streams: microseconds of client CPU a request) post the same PNG to
``/v1/models/detector/detect`` all along. Every ``--gap`` seconds a new version folder (a copy of version
1's files) is moved into the repository at once, as a deployment would; the service loads it, warms it,
swaps it in, drains the old version and unloads it.

A swap's window runs from the moment its folder is moved in until the old version answers ``ready`` no more
(a watcher polls it every 20 ms). Requests *sent* in a window count as during the swap; the rest, after a
warm-up second, as outside (the reference, same run). Printed: requests and failures (any status but 200)
during and outside, p50 / p99 latency of each and their ratio during / outside, the versions that answered,
requests/s and the server's CPU per request from /proc over the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.service_load import Service, process_cpu_seconds, test_image  # noqa: E402


@dataclass
class Answer:
    sent: float  # perf_counter at send
    seconds: float
    status: int
    version: str


async def clients(host: str, port: int, body: bytes, count: int, stop: threading.Event) -> list[Answer]:
    """``count`` closed-loop clients posting ``body`` until ``stop``; every answer with its send time."""
    request = (
        f"POST /v1/models/detector/detect HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    answers: list[Answer] = []
    version = re.compile(rb'"model_version":\s*"([^"]+)"')

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while not stop.is_set():
                sent = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                payload = await reader.readexactly(length)
                found = version.search(payload)
                status = int(head.split(b" ", 2)[1])
                answers.append(
                    Answer(sent, time.perf_counter() - sent, status, found.group(1).decode() if found else "")
                )
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(count)))
    return answers


def swap_windows(
    repository: Path, url: str, swaps: int, gap: float, stop: threading.Event
) -> list[tuple[float, float]]:
    """Move in versions 2..swaps+1, ``gap`` seconds apart; each swap's (start, end) in perf_counter time."""
    windows = []
    scratch = repository.parent / "scratch"
    with httpx.Client(timeout=5) as http:
        for new in range(2, swaps + 2):
            time.sleep(gap)
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(repository / "detector" / "1", scratch)
            started = time.perf_counter()
            scratch.rename(repository / "detector" / str(new))
            old = f"{url}/v2/models/detector/versions/{new - 1}/ready"
            deadline = time.monotonic() + 60
            while http.get(old).status_code == 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"version {new - 1} was never retired")
                time.sleep(0.02)
            windows.append((started, time.perf_counter()))
    time.sleep(gap)
    stop.set()
    return windows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repository", type=Path, default=ROOT / "models")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--swaps", type=int, default=3)
    ap.add_argument("--gap", type=float, default=6.0, help="seconds between swaps (and before the first)")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="swap-bench-"))
    repository = workdir / "repo"
    repository.mkdir()
    shutil.copytree(args.repository / "detector", repository / "detector")
    for extra in (repository / "detector").iterdir():  # only version 1 to start from
        if extra.is_dir() and extra.name != "1":
            shutil.rmtree(extra)
    service = Service(
        repository, workdir / "service.log", model_control_mode="poll", repository_poll_secs="0.5"
    )
    proc, port = service.proc, service.http_port
    try:
        url = f"http://127.0.0.1:{port}"
        stop = threading.Event()
        windows: list[tuple[float, float]] = []
        swapper = threading.Thread(
            target=lambda: windows.extend(swap_windows(repository, url, args.swaps, args.gap, stop))
        )
        cpu0, t0 = process_cpu_seconds(proc.pid), time.perf_counter()
        swapper.start()
        answers = asyncio.run(clients("127.0.0.1", port, test_image(), args.clients, stop))
        swapper.join()
        cpu_s, wall_s = process_cpu_seconds(proc.pid) - cpu0, time.perf_counter() - t0
        report(answers, windows, t0, cpu_s, wall_s, args)
    finally:
        service.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def report(
    answers: list[Answer],
    windows: list[tuple[float, float]],
    t0: float,
    cpu_s: float,
    wall_s: float,
    args: argparse.Namespace,
) -> None:
    def during(a: Answer) -> bool:
        return any(start <= a.sent <= end for start, end in windows)

    inside = [a for a in answers if during(a)]
    outside = [a for a in answers if not during(a) and a.sent >= t0 + 1.0]

    def row(name: str, group: list[Answer]) -> tuple[str, float]:
        ms = np.asarray([a.seconds for a in group if a.status == 200]) * 1000
        failures = sum(a.status != 200 for a in group)
        p50, p99 = (float(np.percentile(ms, q)) for q in (50, 99)) if len(ms) else (float("nan"),) * 2
        return f"| {name} | {len(group)} | {failures} | {p50:.1f} | {p99:.1f} |", p99

    seconds = [end - start for start, end in windows]
    print(
        f"\n{args.swaps} swaps of detector under {args.clients} closed-loop clients (/v1 detect, PNG), "
        f"poll mode 0.5 s; swap windows {min(seconds):.2f}-{max(seconds):.2f} s "
        "(folder moved in -> old version retired)\n"
    )
    print("| requests | count | failures | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    line_in, p99_in = row("during a swap", inside)
    line_out, p99_out = row("outside (reference)", outside)
    print(line_in)
    print(line_out)
    versions = sorted({a.version for a in answers if a.version}, key=int)
    failures = sum(a.status != 200 for a in answers)
    print(
        f"\np99 during / outside: {p99_in / p99_out:.2f}; failures in all: {failures} of {len(answers)}; "
        f"versions that answered: {', '.join(versions)}; {len(answers) / wall_s:.0f} req/s; "
        f"server CPU {cpu_s * 1000 / max(len(answers), 1):.2f} ms/request (/proc)"
    )


if __name__ == "__main__":
    main()
