"""``ModelStreamInfer``: inference requests over one bidirectional stream, as Triton's gRPC service has it.

Each request message gets one ``ModelStreamInferResponse``, sent as soon as it is ready: in the order the
requests complete, not the order they came in (a client tells them apart by ``id``, which every answer
carries). Up to `STREAM_WINDOW` requests of one stream are under way at once, so that they share batches;
the stream is not read further until one of them is answered. A request that fails is answered with its
``error_message`` (and its ``id`` and model in ``infer_response``), and the stream goes on.

The stream is one call for `service.grpc.interceptor.EdgeInterceptor` (API key, draining, in flight): once
accepted, its later messages are served during a drain, until the drain's grace period is running out
(``state.closing``), when the stream ends with UNAVAILABLE instead of being cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

from .._proto import inference_v2_pb2 as pb
from ..errors import InternalError, ServiceError, Unavailable
from .interceptor import checked

__all__ = ["STREAM_WINDOW", "answer_stream"]

log = logging.getLogger(__name__)

Context: TypeAlias = Any  # grpc.aio.ServicerContext (grpc ships no type information)
Infer: TypeAlias = Callable[[pb.ModelInferRequest, Context], Awaitable[pb.ModelInferResponse]]
#: Requests of one stream under way at once.
STREAM_WINDOW = 16


async def answer_stream(
    requests: AsyncIterator[Any],
    context: Context,
    infer: Infer,
    closing: asyncio.Event,
    window: int = STREAM_WINDOW,
) -> AsyncIterator[pb.ModelStreamInferResponse]:
    """One answer per message of ``requests`` (run by ``infer``), each as soon as it is ready.

    Raises:
        Unavailable: ``closing`` was set while the stream waited for an answer.
    """
    answers: asyncio.Queue[pb.ModelStreamInferResponse | None] = asyncio.Queue()
    slots = asyncio.Semaphore(window)
    running: set[asyncio.Task[None]] = set()

    async def answer(request: Any) -> None:
        try:
            response = await _answer(infer, request, context)
        finally:
            slots.release()
        answers.put_nowait(response)

    async def read() -> None:
        try:
            async for request in requests:
                await slots.acquire()
                task = asyncio.ensure_future(answer(request))
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.wait(set(running))
        finally:
            answers.put_nowait(None)  # after every answer of a stream read to its end

    reader = asyncio.ensure_future(read())
    try:
        while (response := await _next(answers, closing)) is not None:
            yield response
        await reader  # a broken request stream ends the call with its error
    finally:
        reader.cancel()
        for task in list(running):
            task.cancel()


async def _answer(infer: Infer, request: Any, context: Context) -> pb.ModelStreamInferResponse:
    """One message's answer: its response, or its error (the stream goes on)."""
    try:
        return pb.ModelStreamInferResponse(infer_response=await infer(checked(request), context))
    except Exception as exc:
        error = exc if isinstance(exc, ServiceError) else InternalError(f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, ServiceError):
            log.error("ModelStreamInfer message failed", exc_info=exc)
        named = pb.ModelInferResponse(
            model_name=getattr(request, "model_name", ""),
            model_version=getattr(request, "model_version", ""),
            id=getattr(request, "id", ""),
        )
        return pb.ModelStreamInferResponse(error_message=error.message(), infer_response=named)


async def _next(
    answers: asyncio.Queue[pb.ModelStreamInferResponse | None], closing: asyncio.Event
) -> pb.ModelStreamInferResponse | None:
    """The next answer to send (None: the stream is over), or `Unavailable` once the grace period is over."""
    if not answers.empty():
        return answers.get_nowait()
    getter = asyncio.ensure_future(answers.get())
    closer = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait((getter, closer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        closer.cancel()
        answered = getter.done()
        if not answered:
            getter.cancel()
    if answered:
        return getter.result()
    raise Unavailable("the service is shutting down and its grace period is over: reconnect")
