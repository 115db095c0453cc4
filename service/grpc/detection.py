"""``focalserve.v1.DetectionService``: encoded images in, detections in original-image pixels out.

The same pipeline as ``POST /v1/models/{name}/detect`` (`service.core.detection.detect`: decode + letterbox
in the CPU pool, the model's dynamic batcher, boxes mapped back); ``DetectStream`` answers each request
message in order (a failed one with its error, and the stream goes on) and keeps several in flight so that a
stream's images share batches; when a drain's grace period runs out, an open stream ends UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from .._proto import detection_pb2 as pb
from .._proto import detection_pb2_grpc as pb_grpc
from ..core.detection import check_image_count, parse_detect_options
from ..core.state import ServiceState
from ..errors import InternalError, ServiceError, Unavailable
from .interceptor import call_timeout, checked

__all__ = ["DEFAULT_MODEL", "DetectionServicer"]

log = logging.getLogger(__name__)

Context: TypeAlias = Any  # grpc.aio.ServicerContext (grpc ships no type information)
DEFAULT_MODEL = "detector"
#: Requests of one stream processed concurrently (answers still go out in order).
STREAM_WINDOW = 8


class DetectionServicer(pb_grpc.DetectionServiceServicer):  # type: ignore[misc]
    """Detect and DetectStream over the service's detectors."""

    def __init__(self, state: ServiceState) -> None:
        self._state = state

    async def _detect(self, request: pb.DetectRequest, context: Context) -> pb.DetectResponse:
        request = checked(request)  # a stream's messages arrive as they parsed
        check_image_count(len(request.images), self._state.settings.max_images_per_request)
        options = parse_detect_options(
            {
                "score_threshold": request.score_threshold if request.HasField("score_threshold") else None,
                "max_detections": request.max_detections if request.HasField("max_detections") else None,
            }
        )
        mv = self._state.detector(request.model or DEFAULT_MODEL, request.version or None)
        names = [f"images[{i}]" for i in range(len(request.images))]
        result = await self._state.detect(
            mv, list(request.images), names, options, timeout_s=call_timeout(self._state, context)
        )
        response = pb.DetectResponse(
            model=result.model,
            version=result.version,
            queue_ms=result.queue_ms,
            inference_ms=result.inference_ms,
            id=request.id,
        )
        for image in result.images:
            out = response.images.add(width=image.width, height=image.height)
            for box, score, class_id, class_name in zip(
                image.boxes.tolist(),
                image.scores.tolist(),
                image.class_ids.tolist(),
                image.class_names,
                strict=True,
            ):
                x1, y1, x2, y2 = box
                out.detections.add(
                    x1=x1, y1=y1, x2=x2, y2=y2, score=score, class_id=class_id, class_name=class_name
                )
        return response

    async def Detect(self, request: pb.DetectRequest, context: Context) -> pb.DetectResponse:
        return await self._detect(request, context)

    async def _answer(self, request: pb.DetectRequest, context: Context) -> pb.DetectResponse:
        """One stream message's answer: its detections, or its error (the stream goes on)."""
        try:
            return await self._detect(request, context)
        except Exception as exc:
            error = exc if isinstance(exc, ServiceError) else InternalError(f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, ServiceError):
                log.error("DetectStream message failed", exc_info=exc)
            return pb.DetectResponse(
                id=getattr(request, "id", ""), error=error.message(), error_code=error.grpc_code
            )

    async def DetectStream(
        self, requests: AsyncIterator[pb.DetectRequest], context: Context
    ) -> AsyncIterator[pb.DetectResponse]:
        pending: asyncio.Queue[asyncio.Task[pb.DetectResponse] | None] = asyncio.Queue(STREAM_WINDOW)

        async def read() -> None:
            try:
                async for request in requests:
                    await pending.put(asyncio.ensure_future(self._answer(request, context)))
            finally:
                await pending.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (task := await self._next(pending)) is not None:
                yield await task
            await reader
        finally:
            reader.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if leftover is not None:
                    leftover.cancel()

    async def _next(
        self, pending: asyncio.Queue[asyncio.Task[pb.DetectResponse] | None]
    ) -> asyncio.Task[pb.DetectResponse] | None:
        """The next answer to send, or `Unavailable` once the drain's grace period is running out."""
        if not pending.empty():
            return pending.get_nowait()
        getter = asyncio.ensure_future(pending.get())
        closing = asyncio.ensure_future(self._state.closing.wait())
        await asyncio.wait((getter, closing), return_when=asyncio.FIRST_COMPLETED)
        closing.cancel()
        if getter.done():
            return getter.result()
        getter.cancel()
        raise Unavailable("the service is shutting down and its grace period is over: reconnect")
