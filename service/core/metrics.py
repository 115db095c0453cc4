"""Prometheus metrics of one service instance (own registry, so several can live in one process).

The request counter and latency histogram count both edges: REST requests by HTTP method, route template and
status code, and gRPC calls with method ``GRPC``, the gRPC method as route and the status code name as status
(`service.grpc.interceptor`).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Request, queue, inference, batch and model metrics; implements the batcher's `BatchObserver`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "focalserve_requests",
            "Requests by method, route and status (REST, and gRPC calls with method GRPC).",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "focalserve_request_duration_seconds",
            "Request latency by method and route (REST, and gRPC calls with method GRPC).",
            ["method", "route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.queue_time = Histogram(
            "focalserve_queue_duration_seconds",
            "Time a request waited in the batch queue.",
            ["model", "version"],
            buckets=_LATENCY,
            registry=r,
        )
        self.inference_time = Histogram(
            "focalserve_inference_duration_seconds",
            "Time of one batched model call.",
            ["model", "version"],
            buckets=_LATENCY,
            registry=r,
        )
        self.batch_size = Histogram(
            "focalserve_batch_size", "Rows per model call.", ["model", "version"], buckets=_BATCH, registry=r
        )
        self.queue_depth_gauge = Gauge(
            "focalserve_queue_depth", "Requests waiting for a batch.", ["model", "version"], registry=r
        )
        self.pending_gauge = Gauge(
            "focalserve_pending_requests",
            "Requests accepted by a model version and not answered yet (waiting or running).",
            ["model", "version"],
            registry=r,
        )
        self.models_loaded = Gauge("focalserve_models_loaded", "Model versions loaded and warm.", registry=r)
        self.model_load_failures = Counter(
            "focalserve_model_load_failures",
            "Model versions that failed to load while the repository was live (poll mode).",
            ["model", "version"],
            registry=r,
        )
        self.model_provider = Gauge(
            "focalserve_model_provider",
            "1 for the execution provider each model version runs on.",
            ["model", "version", "provider"],
            registry=r,
        )
        self.ready = Gauge(
            "focalserve_ready", "1 when every model is warm and the service accepts work.", registry=r
        )

    def queue_depth(self, model: str, version: str, depth: int) -> None:
        self.queue_depth_gauge.labels(model, version).set(depth)

    def batch_done(
        self, model: str, version: str, size: int, queue_s: Sequence[float], compute_s: float
    ) -> None:
        self.batch_size.labels(model, version).observe(size)
        self.inference_time.labels(model, version).observe(compute_s)
        hist = self.queue_time.labels(model, version)
        for q in queue_s:
            hist.observe(q)
