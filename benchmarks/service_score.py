"""Scoring rows of the service benchmark: 8M elements of binary focal loss, in-process vs over the wire.

Rows: the in-process ``losses.focal_loss`` call (the reference); the service with a JSON body and with a
binary ``.npz`` body, one request at a time and with two in flight; gRPC ``Score`` with packed bytes, the
same two ways; and servers that only receive the same npz / gRPC message (the transport limits). Each row's
calls alternate with in-process calls, and its ratio is over the in-process median of that same stretch: the
machine's load drifts over a run, and a single in-process figure made the ratios drift with it. HTTP clients
send bodies as 1 MiB views (`body_chunks`): the client shares the server's two cores here, and httpx given one
``bytes`` body spends a third more CPU than needed on copies.
"""

from __future__ import annotations

import io
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.service_servers import Context, bare_server, service_url

__all__ = ["SCORE_ROWS", "ScoreMeasurement", "npz_body", "report_scoring", "score_arrays"]


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


def seconds_of(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def paired_medians(
    call: Callable[[], Any], reference: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Median seconds of ``call`` and of ``reference``, timed alternately so both see the same machine."""
    call(), reference()  # warm-up
    ours: list[float] = []
    ref: list[float] = []
    for _ in range(repeats):
        ref.append(seconds_of(reference))
        ours.append(seconds_of(call))
    return statistics.median(ours), statistics.median(ref)


def score_inprocess(ctx: Context, elements: int) -> ScoreMeasurement:
    call = inprocess_call(elements)
    seconds, again = paired_medians(call, call, 5)
    return ScoreMeasurement("in-process focal_loss", elements, seconds, again)


def body_chunks(body: bytes, size: int = 1 << 20) -> Iterator[memoryview]:
    """``body`` as 1 MiB views, for httpx's ``content=`` (with an explicit Content-Length).

    Given one ``bytes`` object, httpcore re-slices what is left after every partial ``send``, a copy each
    time: 15-16 ms of client CPU per 40 MB here against 11-12 ms for these views (8 ms for ``http.client``),
    taken from the server's two cores. Each view is copied once (h11 frames it), not the rest each time.
    """
    view = memoryview(body)
    return (view[i : i + size] for i in range(0, len(view), size))


def _http_row(
    name: str, url: str, body: bytes, content_type: str, elements: int, repeats: int, **params: str
) -> ScoreMeasurement:
    """One request at a time to ``url`` on a keep-alive client, alternating with the in-process call."""
    import httpx

    with httpx.Client(timeout=600) as client:

        def call() -> None:
            headers = {"content-type": content_type, "content-length": str(len(body))}
            client.post(url, content=body_chunks(body), headers=headers, params=params).raise_for_status()

        seconds, reference = paired_medians(call, inprocess_call(elements), repeats)
    return ScoreMeasurement(name, elements, seconds, reference)


def score_json(ctx: Context, elements: int) -> ScoreMeasurement:
    import orjson

    x, y = score_arrays(elements)
    doc = {"predictions": np.round(x, 4), "labels": y, "losses": [{"name": "focal"}]}
    body = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    name = f"service JSON ({len(body) / 1e6:.0f} MB)"
    return _http_row(name, service_url(ctx) + "/v1/score", body, "application/json", elements, 2)


def score_npz(ctx: Context, elements: int) -> ScoreMeasurement:
    body = npz_body(elements)
    name = f"service npz ({len(body) / 1e6:.0f} MB)"
    url = service_url(ctx) + "/v1/score"
    return _http_row(name, url, body, "application/x-npz", elements, 7, losses="focal")


def score_bare_receive(ctx: Context, elements: int) -> ScoreMeasurement:
    """The HTTP limit for the npz row: a bare FastAPI endpoint that only receives the same bytes."""
    url = bare_server(ctx) + "/receive"
    return _http_row(
        "bare-http receive (same npz)", url, npz_body(elements), "application/x-npz", elements, 7
    )


def paired_throughput(
    send: Callable[[], Any], reference: Callable[[], Any], *, in_flight: int, calls: int, rounds: int = 3
) -> tuple[float, float]:
    """Seconds per call with ``in_flight`` calls outstanding (``send`` from that many threads; the next body
    travels while the server computes the last) and the in-process call's median, rounds alternating."""
    per_call: list[float] = []
    ref: list[float] = []
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(lambda _: send(), range(in_flight)))  # warm-up: a connection per thread
        for _ in range(rounds):
            ref += [seconds_of(reference), seconds_of(reference)]
            per_call.append(seconds_of(lambda: list(pool.map(lambda _: send(), range(calls)))) / calls)
    return statistics.median(per_call), statistics.median(ref)


def score_npz_in_flight(ctx: Context, elements: int, in_flight: int = 2) -> ScoreMeasurement:
    """Scoring throughput: ``in_flight`` npz requests outstanding, one keep-alive client per thread."""
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
        headers = {"content-type": "application/x-npz", "content-length": str(len(body))}
        client.post(
            url, content=body_chunks(body), headers=headers, params={"losses": "focal"}
        ).raise_for_status()

    try:
        seconds, reference = paired_throughput(
            send, inprocess_call(elements), in_flight=in_flight, calls=4 * in_flight
        )
    finally:
        for client in clients:
            client.close()
    return ScoreMeasurement(f"service npz, {in_flight} in flight", elements, seconds, reference)


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
    for _ in range(3):  # two reference calls a round, as `paired_throughput`: one varied by 25% run to run
        ref += [seconds_of(reference), seconds_of(reference)]
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


#: name -> row function (ctx, elements) -> ScoreMeasurement, in table order; "in-process" is the reference
SCORE_ROWS: dict[str, Callable[[Context, int], ScoreMeasurement]] = {
    "in-process": score_inprocess,
    "json": score_json,
    "npz": score_npz,
    "bare-http": score_bare_receive,
    "npz-in-flight": score_npz_in_flight,
    "grpc": score_grpc,
    "bare-grpc": score_bare_grpc,
    "grpc-in-flight": score_grpc_in_flight,
}


def report_scoring(scores: dict[str, ScoreMeasurement]) -> None:
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
