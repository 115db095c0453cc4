"""gRPC rows of the service benchmark: detection throughput / latency and scoring at 8M elements.

    python benchmarks/service_grpc.py [--model-repository models] [--requests 200] [--elements 8000000]

Starts the real service (``python -m service``) in a subprocess and drives it from a separate load-generator
process (``grpc.aio`` / ``httpx`` asyncio clients), so the client never takes the server's CPU inside one
interpreter. Prints, per concurrency 1, 8 and 32: images/s and p50 / p99 latency for gRPC ``Detect`` and for
REST ``POST /v1/models/detector/detect`` measured in the same run (the ratio is gRPC / REST); and for scoring
8M elements: the in-process ``losses.focal_loss`` call against gRPC ``Score`` with packed float32 logits and
uint8 labels (elements/s, medians; target >= 0.6x). The load generator sends pre-serialized requests, so
what is measured is the service, not the client's protobuf encoding.

The row functions (`detection_rows`, `scoring_rows`) take a running service and are what
``benchmarks/service.py`` reuses.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    name: str
    value: float
    unit: str
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
    note: str = ""


def image_png(size: int = 128) -> bytes:
    """A synthetic scene: grey background with a filled circle and a square (PNG)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    draw.ellipse((size * 0.1, size * 0.1, size * 0.45, size * 0.45), fill=(220, 40, 40))
    draw.rectangle((size * 0.55, size * 0.5, size * 0.9, size * 0.85), fill=(40, 200, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- load generator (runs in its own process)


async def _closed_loop(send: Callable[[], Any], concurrency: int, duration: float) -> dict[str, Any]:
    """``concurrency`` clients, each sending again on reply; a short warm-up, then ``duration`` measured."""
    latencies: list[float] = []
    errors = 0

    async def worker(until: float, record: bool) -> None:
        nonlocal errors
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                await send()
            except Exception:
                errors += 1
                continue
            if record:
                latencies.append(time.perf_counter() - started)

    warm = time.perf_counter() + min(1.0, duration / 4)
    await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
    started = time.perf_counter()
    await asyncio.gather(*(worker(started + duration, True) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    lat = np.asarray(latencies) * 1000
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "errors": errors,
    }


async def _load(protocol: str, target: str, body: bytes, concurrency: int, duration: float) -> dict[str, Any]:
    """gRPC: ``body`` is a serialized DetectRequest sent as is; REST: ``body`` is the image to POST."""
    if protocol == "grpc":
        import grpc

        options = [("grpc.max_send_message_length", 1 << 28), ("grpc.max_receive_message_length", 1 << 28)]
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            detect = channel.unary_unary("/focalserve.v1.DetectionService/Detect")  # bytes in, bytes out
            return await _closed_loop(lambda: detect(body, timeout=60), concurrency, duration)
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def post() -> None:
            response = await client.post(target, content=body, headers={"content-type": "image/png"})
            response.raise_for_status()

        return await _closed_loop(post, concurrency, duration)


def _run_load(protocol: str, target: str, body: bytes, concurrency: int, duration: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(body)
        f.flush()
        spec = json.dumps([protocol, target, f.name, concurrency, duration])
        out = subprocess.run(
            [sys.executable, __file__, "--loadgen", spec],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def grpc_detect_load(
    target: str, model: str, image: bytes, concurrency: int, duration: float
) -> dict[str, Any]:
    """gRPC Detect under closed-loop load from another process: ``{"rps", "p50_ms", "p99_ms", "errors"}``."""
    from service._proto import detection_pb2

    wire = detection_pb2.DetectRequest(model=model, images=[image]).SerializeToString()
    return _run_load("grpc", target, wire, concurrency, duration)


def score_wire(predictions: np.ndarray, labels: np.ndarray) -> bytes:
    """A serialized binary-focal ``ScoreRequest``; hard 0/1 labels packed as uint8 (same values)."""
    from service._proto import array_pb2, scoring_pb2

    if labels.dtype != np.uint8 and np.isin(labels, (0, 1)).all():
        labels = labels.astype(np.uint8)

    def packed(a: np.ndarray) -> array_pb2.Array:
        return array_pb2.Array(dtype=a.dtype.name, shape=a.shape, data=np.ascontiguousarray(a).tobytes())

    request = scoring_pb2.ScoreRequest(
        predictions=packed(predictions),
        labels=packed(labels),
        kind="binary",
        losses=[scoring_pb2.LossSpec(name="focal")],
    )
    return request.SerializeToString()


def grpc_score_pipelined(target: str, wire: bytes, *, in_flight: int = 2, calls: int = 8) -> float:
    """Seconds per Score call with ``in_flight`` calls outstanding (the next request travels while the server
    computes the previous one): the service's scoring throughput rather than one call's latency."""
    import grpc

    async def run() -> float:
        options = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            score = channel.unary_unary("/focalserve.v1.ScoringService/Score")
            await score(wire, timeout=120)
            left = list(range(calls))

            async def worker() -> None:
                while left:
                    left.pop()
                    await score(wire, timeout=120)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return (time.perf_counter() - started) / calls

    return asyncio.run(run())


def grpc_score_times(
    target: str,
    predictions: np.ndarray,
    labels: np.ndarray,
    *,
    repeats: int = 5,
    reference: float | None = None,
    interleave: Callable[[], object] | None = None,
) -> tuple[list[float], list[float]]:
    """Seconds of each gRPC Score call, and of ``interleave`` (the in-process call) timed right before each
    one, so that both see the same machine load."""
    import grpc

    from service._proto import scoring_pb2

    wire = score_wire(predictions, labels)
    options = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
    with grpc.insecure_channel(target, options=options) as channel:
        score = channel.unary_unary(
            "/focalserve.v1.ScoringService/Score", response_deserializer=scoring_pb2.ScoreResponse.FromString
        )
        value = score(wire, timeout=120).losses[0].value
        if reference is not None and value != reference:
            raise AssertionError(f"gRPC Score {value!r} != in-process {reference!r}")
        remote, local = [], []
        for _ in range(repeats):
            if interleave is not None:
                started = time.perf_counter()
                interleave()
                local.append(time.perf_counter() - started)
            started = time.perf_counter()
            score(wire, timeout=120)
            remote.append(time.perf_counter() - started)
    return remote, local


# ---------------------------------------------------------------- standalone run


def _rest_load(url: str, image: bytes, concurrency: int, duration: float) -> dict[str, Any]:
    return _run_load("rest", url, image, concurrency, duration)


def detection_rows(
    grpc_target: str,
    http_url: str,
    *,
    model: str,
    duration: float,
    concurrencies: tuple[int, ...] = (1, 8, 32),
) -> list[Row]:
    """gRPC Detect vs REST detect, one image per request, at each concurrency (same image, same run)."""
    image = image_png()
    rows: list[Row] = []
    for c in concurrencies:
        rest = _rest_load(f"{http_url}/v1/models/{model}/detect", image, c, duration)
        grpc_ = grpc_detect_load(grpc_target, model, image, c, duration)
        rows.append(Row(f"detect rest c={c}", rest["rps"], "img/s", rest["p50_ms"], rest["p99_ms"]))
        ratio = grpc_["rps"] / rest["rps"] if rest["rps"] else None
        rows.append(
            Row(
                f"detect grpc c={c}",
                grpc_["rps"],
                "img/s",
                grpc_["p50_ms"],
                grpc_["p99_ms"],
                ratio,
                "vs REST",
            )
        )
    return rows


def scoring_rows(grpc_target: str, *, elements: int, repeats: int = 9) -> list[Row]:
    """In-process focal loss vs gRPC Score on the same elements (packed bytes), interleaved, medians."""
    import losses

    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(elements) * 3).astype(np.float32)
    labels = (rng.random(elements) < 0.01).astype(np.float32)
    reference = float(losses.focal_loss(logits, labels))
    remote, local = grpc_score_times(
        grpc_target,
        logits,
        labels,
        repeats=repeats,
        reference=reference,
        interleave=lambda: losses.focal_loss(logits, labels),
    )
    t_remote, t_local = statistics.median(remote), statistics.median(local)
    t_pipelined = grpc_score_pipelined(grpc_target, score_wire(logits, labels))
    return [
        Row("score in-process focal_loss", elements / t_local, "elem/s", t_local * 1000),
        Row(
            "score grpc packed (f32, u8)",
            elements / t_remote,
            "elem/s",
            t_remote * 1000,
            ratio=t_local / t_remote,
            note="vs in-process, one call at a time",
        ),
        Row(
            "score grpc packed, 2 in flight",
            elements / t_pipelined,
            "elem/s",
            t_pipelined * 1000,
            ratio=t_local / t_pipelined,
            note="vs in-process, throughput",
        ),
    ]


def print_rows(rows: list[Row]) -> None:
    print(f"{'row':34s} {'value':>12s} {'unit':7s} {'p50 ms':>8s} {'p99 ms':>8s} {'ratio':>6s}")
    for r in rows:
        p50 = "" if r.p50_ms is None else f"{r.p50_ms:8.1f}"
        p99 = "" if r.p99_ms is None else f"{r.p99_ms:8.1f}"
        ratio = "" if r.ratio is None else f"{r.ratio:6.2f}"
        print(f"{r.name:34s} {r.value:12.4g} {r.unit:7s} {p50:>8s} {p99:>8s} {ratio:>6s} {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", type=Path, default=None)
    parser.add_argument("--model", default="detector")
    parser.add_argument(
        "--duration", type=float, default=4.0, help="seconds measured per row and concurrency"
    )
    parser.add_argument("--elements", type=int, default=8_000_000)
    parser.add_argument("--skip-detect", action="store_true")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.loadgen:
        protocol, target, path, concurrency, duration = json.loads(ns.loadgen)
        body = Path(path).read_bytes()
        print(json.dumps(asyncio.run(_load(protocol, target, body, concurrency, duration))))
        return
    from tests.grpc.live import live_service, make_repository

    with tempfile.TemporaryDirectory() as tmp:
        repo = ns.model_repository
        if repo is None:
            repo = (
                ROOT / "models"
                if (ROOT / "models" / "detector").is_dir()
                else make_repository(Path(tmp) / "r")
            )
        limits = {
            "grpc_max_message_bytes": str(1 << 30),
            "max_body_bytes": str(1 << 30),
            "log_level": "warning",
        }
        with live_service(Path(repo), Path(tmp) / "service.log", **limits) as service:
            rows = []
            if not ns.skip_detect:
                rows += detection_rows(
                    service.grpc_target, service.http_url, model=ns.model, duration=ns.duration
                )
            rows += scoring_rows(service.grpc_target, elements=ns.elements)
    print(f"model repository: {repo}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print_rows(rows)


if __name__ == "__main__":
    main()
