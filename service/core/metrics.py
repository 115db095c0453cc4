"""Prometheus metrics of one service instance (own registry, so several can live in one process).

The request counter and latency histogram count both edges: REST requests by HTTP method, route template and
status code, and gRPC calls with method ``GRPC``, the gRPC method as route and the status code name as status
(`service.grpc.interceptor`).

Per model version, the stages of Triton's statistics (`service.core.statistics`) as histograms: the queue
(per request), compute input, compute infer (``focalserve_inference_duration_seconds``: the model call) and
compute output (per batch); the rows per batch; the requests waiting for a batch and those pending (accepted,
not answered yet). The batcher reports them (`BatchObserver`), and so do the loss models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .statistics import StageTimes

__all__ = ["Metrics"]

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _Version(NamedTuple):
    """One model version's children of the per-version metrics (labels looked up once)."""

    queue: Any
    compute_input: Any
    compute_infer: Any
    compute_output: Any
    batch_size: Any
    queue_depth: Any
    pending: Any


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
            "Time of one batched model call (the compute infer stage).",
            ["model", "version"],
            buckets=_LATENCY,
            registry=r,
        )
        self.compute_input_time = Histogram(
            "focalserve_compute_input_duration_seconds",
            "Time from a batch's start to its model call: inputs concatenated, handed to the thread.",
            ["model", "version"],
            buckets=_LATENCY,
            registry=r,
        )
        self.compute_output_time = Histogram(
            "focalserve_compute_output_duration_seconds",
            "Time from a batch's model call to every request's share: outputs checked and split.",
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
        self._versions: dict[tuple[str, str], _Version] = {}

    def _version(self, model: str, version: str) -> _Version:
        found = self._versions.get((model, version))
        if found is None:
            found = self._versions[(model, version)] = _Version(
                *(
                    metric.labels(model, version)
                    for metric in (
                        self.queue_time,
                        self.compute_input_time,
                        self.inference_time,
                        self.compute_output_time,
                        self.batch_size,
                        self.queue_depth_gauge,
                        self.pending_gauge,
                    )
                )
            )
        return found

    def queue_depth(self, model: str, version: str, depth: int) -> None:
        self._version(model, version).queue_depth.set(depth)

    def pending(self, model: str, version: str, count: int) -> None:
        self._version(model, version).pending.set(count)

    def batch_done(
        self, model: str, version: str, size: int, queue_s: Sequence[float], times: StageTimes
    ) -> None:
        children = self._version(model, version)
        children.batch_size.observe(size)
        children.compute_input.observe(times.input_s)
        children.compute_infer.observe(times.infer_s)
        children.compute_output.observe(times.output_s)
        for q in queue_s:
            children.queue.observe(q)
