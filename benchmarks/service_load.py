"""Helpers of benchmarks/service.py that run in their own processes: the load generator and the reference
servers (a bare FastAPI endpoint, and beside it a bare gRPC server with the service's channel arguments that
only receives; a naive one-session-call-per-request handler), plus small shared helpers (`Service`: the real
service on ports 0, read back from its log, for benchmarks/swap.py and benchmarks/perf_analyzer.py).

    python benchmarks/service_load.py _load URL BODY_FILE CONTENT_TYPE CONCURRENCY SECONDS [HEADER ...]
                                                                                   -> JSON stats
    python benchmarks/service_load.py _bare [--grpc-port G] --port P
    python benchmarks/service_load.py _naive REPOSITORY MODEL --port P
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Body, FastAPI, Request

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, path: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}{path} never became ready")


async def _load(
    url: str, body: bytes, content_type: str, concurrency: int, duration: float, headers: str = ""
) -> dict[str, Any]:
    """``concurrency`` keep-alive HTTP/1.1 connections on raw asyncio streams, each a closed loop.

    A hand-rolled client on purpose: it costs microseconds of CPU per request, so on a 2-core machine the
    generator does not take the CPU the server under test needs (httpx's async client costs ~1 ms a request).
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = total = 0

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        return status

    async def worker(warm_until: float, until: float) -> None:
        nonlocal errors, total
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (now := time.perf_counter()) < until:
                status = await one(reader, writer)
                total += 1
                if status != 200:
                    errors += 1
                elif now >= warm_until:
                    latencies.append(time.perf_counter() - now)
        finally:
            writer.close()

    warm = time.perf_counter() + min(1.0, duration / 4)
    await asyncio.gather(*(worker(warm, warm + duration) for _ in range(concurrency)))
    lat = np.asarray(latencies) * 1000
    return {
        "rps": len(latencies) / duration,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "errors": errors,
        "total": total,
    }


def _bare_app(grpc_port: int | None = None) -> Any:
    """Endpoints that only receive: ``POST /receive`` over HTTP, and with ``grpc_port`` the scoring method
    ``/focalserve.v1.ScoringService/Score`` over gRPC (raw bytes in, empty bytes out; no parsing)."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if grpc_port is None:
            yield
            return
        import grpc
        from grpc import aio

        from service.grpc.server import server_options
        from service.settings import Settings

        server = aio.server(options=server_options(Settings(grpc_max_message_bytes=1 << 30)))

        async def receive(request: bytes, context: Any) -> bytes:
            return b""

        handlers = {"Score": grpc.unary_unary_rpc_method_handler(receive)}
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("focalserve.v1.ScoringService", handlers),)
        )
        server.add_insecure_port(f"127.0.0.1:{grpc_port}")
        await server.start()
        yield
        await server.stop(0)

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/receive")
    async def receive(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return app


def _naive_app(repository: str, model: str) -> Any:
    from service.core.preprocess import prepare_image
    from service.core.repository import scan_repository
    from service.settings import Settings

    settings = Settings(model_repository=Path(repository))
    mv = scan_repository(Path(repository)).get(model)
    mv.load(
        preferences=list(settings.execution_providers),
        intra_op_threads=settings.intra_op_threads,
        inter_op_threads=settings.inter_op_threads,
    )
    spec = mv.input_spec()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/detect")  # a plain sync handler: FastAPI runs it in its thread pool, one session call each
    def detect(data: bytes = Body(..., media_type="image/jpeg")) -> dict[str, Any]:
        prepared = prepare_image(data, spec, max_pixels=10**8)
        out = mv.run({spec.name: prepared.tensor[None]})
        n = int(out["num_detections"][0])
        return {
            "boxes": (out["boxes"][0, :n] / prepared.scale).tolist(),
            "scores": out["scores"][0, :n].tolist(),
        }

    return app


def _serve(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def test_image(size: int = 128) -> bytes:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((size, size, 3)) * 60 + 90).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y, r = rng.integers(10, size - 10), rng.integers(10, size - 10), rng.integers(5, 16)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class Service:
    """``python -m service`` on ports 0, the ports read back from its log lines."""

    def __init__(self, repository: Path, log: Path, **settings: str) -> None:
        """``settings``: further ``FOCALSERVE_*`` values, by setting name (``model_control_mode="poll"``)."""
        env = os.environ | {"FOCALSERVE_MODEL_REPOSITORY": str(repository)}
        env |= {f"FOCALSERVE_{k.upper()}": v for k, v in settings.items()}
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--http-port", "0", "--grpc-port", "0", "--host", "127.0.0.1"],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.http_port, self.grpc_port = self._ports()
        self.url = f"http://127.0.0.1:{self.http_port}"

    def _ports(self, timeout: float = 120) -> tuple[int, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            rest = re.search(r"REST listening on http://[^:]+:(\d+)", text)
            grpc = re.search(r"gRPC listening on [^:]+:(\d+)", text)
            if rest and grpc and _ready(f"http://127.0.0.1:{rest.group(1)}"):
                return int(rest.group(1)), int(grpc.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode}:\n{text[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("the service never logged its ports")

    def successes(self, model: str) -> int:
        import httpx

        stats = httpx.get(f"{self.url}/v2/models/{model}/stats", timeout=10).json()
        return sum(int(s["inference_stats"]["success"]["count"]) for s in stats["model_stats"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def _ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        url, body_file, content_type, conc, duration = sys.argv[2:7]
        extra = "".join(f"{line}\r\n" for line in sys.argv[7:])  # further arguments: "Name: value" headers
        import uvloop

        body = Path(body_file).read_bytes()
        stats = uvloop.run(_load(url, body, content_type, int(conc), float(duration), extra))
        print(json.dumps(stats))
    elif len(sys.argv) > 1 and sys.argv[1] == "_bare":
        from service.core.memory import keep_large_buffers
        from service.settings import Settings

        keep_large_buffers(Settings().malloc_keep_bytes)  # the service's transport limit: its allocator too
        grpc_port = int(sys.argv[sys.argv.index("--grpc-port") + 1]) if "--grpc-port" in sys.argv else None
        _serve(_bare_app(grpc_port), int(sys.argv[sys.argv.index("--port") + 1]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_naive":
        _serve(_naive_app(sys.argv[2], sys.argv[3]), int(sys.argv[sys.argv.index("--port") + 1]))
    else:
        raise SystemExit(__doc__)
