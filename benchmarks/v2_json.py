"""Open Inference Protocol infer with JSON tensors: server CPU per request, against the decoding it replaced.

One FP32 image tensor of the model's input size (1x3x256x256 for the default model) as tritonclient's HTTP
client sends it without the binary extension (flat JSON ``data``), to the detector of the repository. Two
measurements, each with its reference in the same run:

  decode      the service's decoding of one such body (orjson, numpy checks: `decode_body_and_request`)
              against the reference: the stdlib ``json`` parser and the per-element checks the service
              used before (kept below as `reference_decode`); CPU ms per body, median of rounds.
  service     the real service over HTTP at ``--concurrency`` (closed loop, keep-alive): infer/s, p50 and
              the server's CPU ms per request from /proc; the same tensor sent with the binary extension
              ("binary": what the request costs with no JSON numbers, the floor); with
              ``--reference-tree DIR`` (a checkout of an older commit, e.g. ``git worktree add /tmp/before
              <commit>``) the same load on that tree's service, alternating, and the ratio of CPU per
              request.

    .venv/bin/python benchmarks/v2_json.py [--model-repository models] [--duration 3] [--rounds 3]
        [--concurrency 32] [--reference-tree /tmp/before]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.service_load import free_port, process_cpu_seconds, wait_ready  # noqa: E402

LOAD = ROOT / "benchmarks" / "service_load.py"


SHAPE = (1, 3, 128, 128)  # when the model's metadata gives no input size


def model_shape(repository: Path, model: str) -> tuple[int, ...]:
    """One image of the model's input: ``(1, 3, height, width)`` from its newest version's metadata.json."""
    versions = sorted(
        (p for p in (repository / model).glob("*/metadata.json")), key=lambda p: int(p.parent.name)
    )
    if not versions:
        return SHAPE
    spec = json.loads(versions[-1].read_text()).get("input", {})
    return (1, 3, int(spec.get("height", SHAPE[2])), int(spec.get("width", SHAPE[3])))


def request_body(shape: tuple[int, ...] = SHAPE) -> bytes:
    """One infer request with the tensor as flat JSON ``data``."""
    data = np.random.default_rng(0).random(shape, dtype=np.float32)
    spec = {"name": "images", "shape": list(shape), "datatype": "FP32", "data": data.ravel().tolist()}
    return json.dumps({"inputs": [spec]}).encode()


def binary_body(shape: tuple[int, ...] = SHAPE) -> tuple[bytes, int]:
    """The same tensor with the binary tensor data extension (no JSON numbers), and its header length."""
    data = np.random.default_rng(0).random(shape, dtype=np.float32)
    spec = {"name": "images", "shape": list(shape), "datatype": "FP32"}
    head = json.dumps({"inputs": [{**spec, "parameters": {"binary_data_size": data.nbytes}}]}).encode()
    return head + data.tobytes(), len(head)


def reference_decode(body: bytes) -> dict[str, np.ndarray]:
    """The decoding this service did before: stdlib json, then a Python check of every element."""
    header = json.loads(body)
    out = {}
    for spec in header["inputs"]:
        flat = spec["data"]
        if len(flat) != math.prod(spec["shape"]):
            raise ValueError("count")
        if any(isinstance(x, bool) or not isinstance(x, int | float) for x in flat):
            raise ValueError("numbers")
        out[spec["name"]] = np.array(flat, dtype=np.float32).reshape(spec["shape"])
    return out


def cpu_ms(fn: Any, body: bytes, repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        fn(body)
    return (time.process_time() - started) / repeat * 1000


def decode_rows(body: bytes, rounds: int) -> None:
    from service.rest.v2_body import decode_body_and_request

    def ours(raw: bytes) -> Any:
        return decode_body_and_request(raw, None, None, 1 << 30)

    ref, new = [], []
    for _ in range(rounds):
        ref.append(cpu_ms(reference_decode, body, 20))
        new.append(cpu_ms(ours, body, 20))
    r, n = statistics.median(ref), statistics.median(new)
    print(f"decode of one {len(body) / 1e6:.2f} MB body (CPU ms, median of {rounds} rounds)")
    print(f"  reference (stdlib json + per-element checks) {r:8.2f}")
    print(f"  service (orjson + numpy checks)              {n:8.2f}   {r / n:.1f}x less CPU")


def start(tree: Path, repository: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {"FOCALSERVE_LOG_LEVEL": "warning", "FOCALSERVE_MAX_BODY_BYTES": str(1 << 28)}
    cmd = [sys.executable, "-m", "service", "--model-repository", str(repository)]
    cmd += ["--http-port", str(port), "--grpc-port", str(free_port())]
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, "/v2/health/ready", proc)
    return proc, url


def load(
    url: str, body_file: Path, concurrency: int, duration: float, pid: int, *headers: str
) -> dict[str, float]:
    cpu = process_cpu_seconds(pid)
    kind = "application/octet-stream" if headers else "application/json"
    cmd = [sys.executable, str(LOAD), "_load", url, str(body_file), kind, str(concurrency), str(duration)]
    out = subprocess.run([*cmd, *headers], capture_output=True, text=True, check=True, cwd=ROOT)
    stats: dict[str, float] = json.loads(out.stdout)
    stats["cpu_ms"] = (process_cpu_seconds(pid) - cpu) * 1000 / max(1, stats["total"])
    return stats


def service_rows(args: argparse.Namespace, body: bytes, workdir: Path) -> None:
    body_file, binary_file = workdir / "body.json", workdir / "body.bin"
    body_file.write_bytes(body)
    binary, header_length = binary_body(model_shape(args.model_repository, args.model))
    binary_file.write_bytes(binary)
    trees = {"service": ROOT}
    if args.reference_tree:
        trees = {"reference": args.reference_tree.resolve(), **trees}
    servers = {
        name: start(tree, args.model_repository, workdir / f"{name}.log") for name, tree in trees.items()
    }
    path = f"/v2/models/{args.model}/infer"
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in [*trees, "binary"]}
    extra = f"Inference-Header-Content-Length: {header_length}"
    try:
        for _ in range(args.rounds):
            for name, (proc, url) in servers.items():
                rows[name].append(load(url + path, body_file, args.concurrency, args.duration, proc.pid))
            proc, url = servers["service"]
            rows["binary"].append(
                load(url + path, binary_file, args.concurrency, args.duration, proc.pid, extra)
            )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    print(f"\nv2 infer at concurrency {args.concurrency} (median of {args.rounds} rounds)")
    print(f"  {'row':10} {'infer/s':>9} {'p50 ms':>8} {'errors':>7} {'server cpu ms/req':>18}")
    medians = {}
    for name, runs in rows.items():
        m = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "errors", "cpu_ms")}
        medians[name] = m
        print(f"  {name:10} {m['rps']:9.1f} {m['p50_ms']:8.1f} {m['errors']:7.0f} {m['cpu_ms']:18.2f}")
    print("  (binary: the same tensor in the binary extension, on the service: no JSON numbers at all)")
    if "reference" in medians:
        ref, new, floor = medians["reference"], medians["service"], medians["binary"]
        print(
            f"  service vs reference: {ref['cpu_ms'] / new['cpu_ms']:.1f}x less CPU per request, "
            f"{new['rps'] / ref['rps']:.1f}x the infer/s; "
            f"the bound, JSON at no cost (reference vs binary): {ref['cpu_ms'] / floor['cpu_ms']:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-repository", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="detector")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--reference-tree", type=Path, default=None)
    parser.add_argument("--skip-service", action="store_true")
    args = parser.parse_args()
    body = request_body(model_shape(args.model_repository, args.model))
    decode_rows(body, args.rounds)
    if not args.skip_service:
        with tempfile.TemporaryDirectory() as tmp:
            service_rows(args, body, Path(tmp))


if __name__ == "__main__":
    main()
