"""``focalserve.v1.DetectionService``: encoded images in, detections in original-image pixels out.

The same pipeline as ``POST /v1/models/{name}/detect`` (`service.core.detection.detect`: decode + letterbox
in the CPU pool, the model's dynamic batcher, boxes mapped back); ``DetectStream`` answers each request
message in order and keeps several in flight so that a stream's images share batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from .._proto import detection_pb2 as pb
from .._proto import detection_pb2_grpc as pb_grpc
from ..core.detection import parse_detect_options
from ..core.state import ServiceState
from ..errors import InvalidInput
from .interceptor import call_timeout, checked

__all__ = ["DEFAULT_MODEL", "DetectionServicer"]

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
        if not request.images:
            raise InvalidInput("images: at least one encoded image is needed", field="images")
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

    async def DetectStream(
        self, requests: AsyncIterator[pb.DetectRequest], context: Context
    ) -> AsyncIterator[pb.DetectResponse]:
        pending: asyncio.Queue[asyncio.Task[pb.DetectResponse] | None] = asyncio.Queue(STREAM_WINDOW)

        async def read() -> None:
            try:
                async for request in requests:
                    await pending.put(asyncio.ensure_future(self._detect(request, context)))
            finally:
                await pending.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (task := await pending.get()) is not None:
                yield await task
            await reader
        finally:
            reader.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if leftover is not None:
                    leftover.cancel()
