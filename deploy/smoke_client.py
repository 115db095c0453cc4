"""Client side of scripts/compose-smoke.sh: real requests to a running stack, one check per subcommand.

    python deploy/smoke_client.py ready   --url http://127.0.0.1:8000 [--timeout 120]
    python deploy/smoke_client.py detect  --url http://127.0.0.1:8000
    python deploy/smoke_client.py score   --url http://127.0.0.1:8000
    python deploy/smoke_client.py grpc-health --target 127.0.0.1:8001
    python deploy/smoke_client.py balance --url http://127.0.0.1:8000 --target 127.0.0.1:8001

Each prints one line and exits 0 when the check holds, else prints why and exits 1. HTTP uses only the
standard library; the gRPC checks need grpcio + grpcio-health-checking (in the project's venv).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import sys
import time
import urllib.error
import urllib.request
import zlib
from typing import Any


def _request(
    url: str, body: bytes | None = None, content_type: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _png(width: int, height: int) -> bytes:
    """An RGB PNG ``height x width``: black background, a red square and a green disc."""
    rows = io.BytesIO()
    for y in range(height):
        rows.write(b"\x00")  # filter: none
        for x in range(width):
            in_square = 10 <= x < 40 and 12 <= y < 42
            in_disc = (x - 85) ** 2 + (y - 80) ** 2 <= 20**2
            pixel = (230, 40, 40) if in_square else (40, 200, 60) if in_disc else (0, 0, 0)
            rows.write(bytes(pixel))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = chunk(b"IDAT", zlib.compress(rows.getvalue()))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + data + chunk(b"IEND", b"")


def _fail(message: str) -> int:
    print(f"FAIL {message}", file=sys.stderr)
    return 1


def ready(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, _, body = _request(f"{args.url}/v2/health/ready")
            if status == 200:
                print(f"ready: {args.url}")
                return 0
            last = f"HTTP {status} {body[:200]!r}"
        except OSError as err:
            last = repr(err)
        time.sleep(1.0)
    return _fail(f"not ready within {args.timeout:.0f} s: {last}")


def detect(args: argparse.Namespace) -> int:
    width, height = 160, 120
    status, _, body = _request(f"{args.url}/v1/models/detector/detect", _png(width, height), "image/png")
    if status != 200:
        return _fail(f"detect: HTTP {status} {body[:300]!r}")
    answer = json.loads(body)
    image = answer["images"][0]
    if (image["width"], image["height"]) != (width, height):
        return _fail(f"detect: size {image['width']}x{image['height']}, sent {width}x{height}")
    n = len(image["boxes"])
    if not (len(image["scores"]) == len(image["class_ids"]) == len(image["class_names"]) == n):
        return _fail(f"detect: ragged answer {image}")
    for x1, y1, x2, y2 in image["boxes"]:
        if not (0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height):
            return _fail(f"detect: box outside the image {(x1, y1, x2, y2)}")
    best = f"{image['class_names'][0]} {image['scores'][0]:.3f}" if n else "none"
    print(f"detect: model {answer['model_name']} v{answer['model_version']}, {n} detections, best: {best}")
    return 0


def _focal_binary(logit: float, label: int, alpha: float, gamma: float) -> float:
    """Focal loss of one logit, computed independently of the service (log-sigmoid via softplus)."""

    def softplus(z: float) -> float:
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))

    log_p, log_q = -softplus(-logit), -softplus(logit)  # log sigmoid(x), log(1 - sigmoid(x))
    log_pt, alpha_t = (log_p, alpha) if label == 1 else (log_q, 1.0 - alpha)
    return -alpha_t * (-math.expm1(log_pt)) ** gamma * log_pt  # 1 - p_t without cancellation near p_t = 1


def _numbers(tree: Any) -> list[float]:
    if isinstance(tree, bool):
        return []
    if isinstance(tree, int | float):
        return [float(tree)]
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _numbers(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in _numbers(v)]
    return []


def score(args: argparse.Namespace) -> int:
    logits, labels = [[0.1, -2.0]], [[1, 0]]
    request = {
        "predictions": logits,
        "labels": labels,
        "kind": "binary",
        "losses": [{"name": "focal", "alpha": 0.25, "gamma": 2.0, "reduction": "mean"}],
    }
    status, _, body = _request(f"{args.url}/v1/score", json.dumps(request).encode(), "application/json")
    if status != 200:
        return _fail(f"score: HTTP {status} {body[:300]!r}")
    expected = (_focal_binary(0.1, 1, 0.25, 2.0) + _focal_binary(-2.0, 0, 0.25, 2.0)) / 2
    if not any(math.isclose(x, expected, rel_tol=1e-5) for x in _numbers(json.loads(body))):
        return _fail(f"score: no value close to the focal loss {expected:.6f} in {body[:300]!r}")
    # A bad request must be a 4xx naming the field, never a 500.
    bad = b'{"predictions": [[0.1]], "kind": "nope"}'
    status, _, body = _request(f"{args.url}/v1/score", bad, "application/json")
    if not 400 <= status < 500:
        return _fail(f"score: a bad 'kind' answered HTTP {status} {body[:300]!r}")
    print(f"score: focal = {expected:.6f} as computed here; bad input -> HTTP {status}")
    return 0


def _grpc_health(target: str) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))


def grpc_health(args: argparse.Namespace) -> int:
    status = _grpc_health(args.target)
    if status != "SERVING":
        return _fail(f"grpc health through {args.target}: {status}")
    print(f"grpc health through {args.target}: {status}")
    return 0


def balance(args: argparse.Namespace) -> int:
    """Sends a bounded number of requests through the load balancer; every one must succeed.

    Which replica answered each is not visible to clients (nginx does not leak upstream addresses): the smoke
    script reads it from nginx's access log, where these requests carry the query ``balance=1``.
    """
    for _ in range(args.requests):
        status, _, body = _request(f"{args.url}/v2/health/ready?balance=1")
        if status != 200:
            return _fail(f"balance: HTTP {status} {body[:200]!r}")
        # One gRPC call per round, each on a new connection, so that the lb picks a replica anew.
        if args.target and (grpc_status := _grpc_health(args.target)) != "SERVING":
            return _fail(f"balance: grpc health {grpc_status}")
    grpc = f" + {args.requests} gRPC health checks" if args.target else ""
    print(f"balance: {args.requests} REST requests{grpc} through the lb, all answered")
    return 0


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    sub = parser.add_subparsers(dest="check", required=True)
    for name, func in (("ready", ready), ("detect", detect), ("score", score), ("balance", balance)):
        p = sub.add_parser(name)
        p.add_argument("--url", default="http://127.0.0.1:8000")
        p.set_defaults(func=func)
        if name == "ready":
            p.add_argument("--timeout", type=float, default=120.0)
        if name == "balance":
            p.add_argument("--target", default="", help="also send gRPC health checks here")
            p.add_argument("--requests", type=int, default=40)
    p = sub.add_parser("grpc-health")
    p.add_argument("--target", default="127.0.0.1:8001")
    p.set_defaults(func=grpc_health)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
