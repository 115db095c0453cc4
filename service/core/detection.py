"""Detection on a repository model: images in, per-image detections in original pixels out.

The pipeline per request: decode + letterbox every image in the CPU pool, submit the stacked tensor to the
model's batcher (in chunks of at most ``max_batch_size``), keep each image's valid rows, apply the request's
``score_threshold`` / ``max_detections`` and map boxes back with ``box / s``. Shared by REST and gRPC
(through `service.core.state.ServiceState.detect`, which supplies the pool and the limits).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput, PayloadTooLarge
from .batching import BatchResult
from .deadline import remaining_timeout
from .model_version import ModelVersion
from .preprocess import InputSpec, PixelBudget, Prepared, boxes_in_image, boxes_to_image, prepare_image

__all__ = [
    "DetectLimits",
    "DetectOptions",
    "Detection",
    "DetectionResult",
    "check_detection_cap",
    "check_image_count",
    "detect",
    "parse_detect_options",
]


@dataclass(frozen=True)
class DetectOptions:
    """Per-request filters: keep scores ``>= score_threshold``, at most ``max_detections`` per image."""

    score_threshold: float | None = None
    max_detections: int | None = None


@dataclass(frozen=True)
class Detection:
    """One image's detections: ``boxes`` ``[K, 4]`` (xyxy, original pixels), ``scores``, ``class_ids``."""

    width: int
    height: int
    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "boxes": np.round(self.boxes, 2).tolist(),
            "scores": np.round(self.scores.astype(np.float64), 6).tolist(),
            "class_ids": self.class_ids.tolist(),
            "class_names": self.class_names,
        }


@dataclass(frozen=True)
class DetectionResult:
    """The answer to one detect request; times in milliseconds (queue and inference: the slowest chunk)."""

    model: str
    version: str
    images: list[Detection]
    preprocess_ms: float
    queue_ms: float
    inference_ms: float
    batch_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model,
            "model_version": self.version,
            "images": [d.to_dict() for d in self.images],
            "timings": {
                "preprocess_ms": round(self.preprocess_ms, 3),
                "queue_ms": round(self.queue_ms, 3),
                "inference_ms": round(self.inference_ms, 3),
                "batch_size": self.batch_size,
            },
        }


def parse_detect_options(*sources: dict[str, Any]) -> DetectOptions:
    """Options from the first source that has each key (query first, then body); values checked.

    Raises:
        InvalidInput: ``score_threshold`` not a number in [0, 1], ``max_detections`` not an integer >= 0.
    """
    threshold: float | None = None
    limit: int | None = None
    for source in reversed(sources):
        if source.get("score_threshold") is not None:
            threshold = _number(source["score_threshold"])
        if source.get("max_detections") is not None:
            limit = _count(source["max_detections"])
    return DetectOptions(threshold, limit)


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"must be a number in [0, 1], got {value!r}", field="score_threshold") from None
    if isinstance(value, bool) or not 0.0 <= out <= 1.0:
        raise InvalidInput(f"must be a number in [0, 1], got {value!r}", field="score_threshold")
    return out


def _count(value: Any) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"must be an integer >= 0, got {value!r}", field="max_detections") from None
    if isinstance(value, bool) or out < 0 or (isinstance(value, float) and value != out):
        raise InvalidInput(f"must be an integer >= 0, got {value!r}", field="max_detections")
    return out


@dataclass(frozen=True)
class DetectLimits:
    """What one detect request may cost: images, pixels per image and in all; small requests decode inline.

    Worst case, one request holds ``max_images`` encoded images (within the body limit), decodes one image of
    at most ``max_pixels`` at a time (3 bytes a pixel, twice over while converting), and keeps one model
    input per image (``3 x H x W`` float32); ``max_request_pixels`` bounds the decoding work in all.
    """

    max_images: int
    max_pixels: int
    max_request_pixels: int
    inline_bytes: int


def check_image_count(count: int, limit: int) -> None:
    """The one check of images per request, made before any image is decoded (every body form, gRPC)."""
    if count < 1:
        raise InvalidInput("at least one encoded image is needed", field="images")
    if count > limit:
        raise PayloadTooLarge(
            f"{count} images in one request, more than the limit of {limit} (max_images_per_request); "
            "split the request",
            field="images",
        )


def check_detection_cap(options: DetectOptions, mv: ModelVersion) -> None:
    """A request may ask for at most the model's own cap (`ModelVersion.detection_cap`) of detections."""
    cap = mv.detection_cap
    if options.max_detections is not None and cap is not None and options.max_detections > cap:
        raise InvalidInput(
            f"must be at most {cap}, the most detections per image model {mv.name} version {mv.version} "
            f"returns (its max_detections at export), got {options.max_detections}",
            field="max_detections",
        )


def _prepare_all(
    images: Sequence[bytes], names: Sequence[str], spec: InputSpec, limits: DetectLimits
) -> list[Prepared]:
    budget = PixelBudget(limits.max_request_pixels)
    return [
        prepare_image(data, spec, max_pixels=limits.max_pixels, field=name, budget=budget)
        for data, name in zip(images, names, strict=True)
    ]


async def detect(
    mv: ModelVersion,
    images: Sequence[bytes],
    names: Sequence[str],
    options: DetectOptions,
    *,
    cpu_pool: Executor,
    limits: DetectLimits,
    timeout_s: float,
) -> DetectionResult:
    """Run detection for a list of encoded images on model version ``mv`` (ready, with a batcher).

    Images decode in ``cpu_pool``, or on the calling loop when they total at most ``limits.inline_bytes``;
    the whole request has ``timeout_s``. When one chunk of a multi-image request fails (or the request is
    cancelled: a client gone), its other chunks leave the queue instead of running for nobody.
    """
    assert mv.batcher is not None
    check_image_count(len(images), limits.max_images)
    check_detection_cap(options, mv)
    started = time.monotonic()
    spec = mv.input_spec()
    if sum(len(b) for b in images) <= limits.inline_bytes:
        # small payloads decode in well under a millisecond: a thread hop would cost more than it saves
        prepared = _prepare_all(images, names, spec, limits)
    else:
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(cpu_pool, _prepare_all, images, names, spec, limits)
    preprocess_s = time.monotonic() - started
    tensor = np.stack([p.tensor for p in prepared]) if len(prepared) > 1 else prepared[0].tensor[None]
    input_name = spec.name
    step = mv.batcher.max_batch_size
    remaining = remaining_timeout(timeout_s, elapsed_s=preprocess_s)
    chunks: list[BatchResult]
    if len(prepared) <= step:
        chunks = [await mv.batcher.submit({input_name: tensor}, timeout_s=remaining)]
    else:
        # a task group cancels the other chunks at the first failure: cancelled, they leave the queue
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(
                        mv.batcher.submit({input_name: tensor[i : i + step]}, timeout_s=remaining)
                    )
                    for i in range(0, len(prepared), step)
                ]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the request's answer: its first chunk's error
        chunks = [t.result() for t in tasks]
    outputs = mv.metadata.get("outputs", {})
    keys = {k: outputs.get(k, k) for k in ("boxes", "scores", "labels", "num_detections")}
    if len(chunks) == 1:
        merged = {k: chunks[0].outputs[name] for k, name in keys.items()}
    else:
        merged = {k: np.concatenate([c.outputs[name] for c in chunks]) for k, name in keys.items()}
    classes = mv.classes
    detections = [_one_image(p, merged, i, options, classes) for i, p in enumerate(prepared)]
    return DetectionResult(
        mv.name,
        mv.version,
        detections,
        preprocess_s * 1000,
        max(c.queue_s for c in chunks) * 1000,
        max(c.compute_s for c in chunks) * 1000,
        max(c.batch_size for c in chunks),
    )


def _one_image(
    p: Prepared, out: dict[str, np.ndarray], i: int, options: DetectOptions, classes: list[str]
) -> Detection:
    n = int(out["num_detections"][i])
    boxes, scores, labels = out["boxes"][i, :n], out["scores"][i, :n], out["labels"][i, :n].astype(np.int64)
    keep = labels >= 0
    if options.score_threshold is not None:
        keep &= scores >= options.score_threshold
    keep &= boxes_in_image(boxes, p.scale, p.width, p.height)  # no slivers, nothing mostly in the padding
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if options.max_detections is not None:
        boxes, scores, labels = (
            boxes[: options.max_detections],
            scores[: options.max_detections],
            labels[: options.max_detections],
        )
    names = [classes[c] if 0 <= c < len(classes) else str(c) for c in labels.tolist()]
    return Detection(
        p.width, p.height, boxes_to_image(boxes, p.scale, p.width, p.height), scores, labels, names
    )
