"""One version of one model: its files, metadata, ONNX Runtime session, state, batcher; load, run, unload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InvalidInput, Unavailable
from .backend import create_session
from .batching import Batcher, BatchObserver
from .datatypes import DATATYPES, datatype_of_onnx
from .model_config import VersionPolicy
from .preprocess import InputSpec

__all__ = ["ModelVersion", "State", "TensorSpec"]

log = logging.getLogger(__name__)

State = Literal["loading", "ready", "failed"]


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as the Open Inference Protocol describes it (``-1``: dynamic dimension).

    ``parameters`` (MLServer's tensor-metadata parameters; REST only, Triton's protobuf has no such field) say
    what ``datatype`` and ``shape`` cannot: other datatypes accepted, a rank left open.
    """

    name: str
    datatype: str
    shape: list[int]
    parameters: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        return out


@dataclass
class ModelVersion:
    """One version of one model: its files, metadata, ONNX Runtime session, state and batcher.

    ``metadata`` is metadata.json (empty for a bare ONNX model, which is then only usable through v2 infer).
    ``state`` goes loading -> ready (session created, warm-up batch ran) or failed (``error`` says why).
    """

    name: str
    version: str
    path: Path
    metadata: dict[str, Any]
    config_max_batch_size: int = 0
    state: State = "loading"
    error: str | None = None
    providers: list[str] = field(default_factory=list)
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    batcher: Batcher | None = field(default=None, init=False)
    warmed_batch_sizes: tuple[int, ...] = field(default=(), init=False)  # what load() ran (0: a fixed shape)
    #: what the files looked like when scanned (sizes and modification times): a change means a reload
    stamp: tuple[int, ...] = ()
    #: the version policy of the load request's configuration that selected it (None: config.pbtxt's)
    version_policy: VersionPolicy | None = None
    _session: Any = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def is_detector(self) -> bool:
        return self.metadata.get("task") == "detection"

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.metadata.get("classes", [])]

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def detection_cap(self) -> int | None:
        """The most detections per image the model returns (its export's ``max_detections``): the rows of
        its ``boxes`` output, else metadata.json's figure; None when neither says."""
        name = self.metadata.get("outputs", {}).get("boxes", "boxes")
        boxes = next((o for o in self.outputs if o.name == name), None)
        if boxes is not None and len(boxes.shape) == 3 and boxes.shape[1] > 0:
            return boxes.shape[1]
        cap = self.metadata.get("max_detections")
        return int(cap) if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None

    def batch_limit(self, setting: int) -> int:
        """The largest batch this version runs: ``setting``, capped by config.pbtxt's ``max_batch_size``."""
        return min(setting, self.config_max_batch_size) if self.config_max_batch_size > 0 else setting

    def input_spec(self) -> InputSpec:
        """The preprocessing contract (detectors only)."""
        if not self.is_detector:
            raise InvalidInput(f"model {self.name} is not a detection model", field="model")
        spec = self.metadata["input"]
        return InputSpec(
            name=str(spec.get("name", "images")),
            height=int(spec["height"]),
            width=int(spec["width"]),
            scale=float(spec.get("scale", 1 / 255)),
            mean=_triple(spec.get("mean", [0.0, 0.0, 0.0])),
            std=_triple(spec.get("std", [1.0, 1.0, 1.0])),
            pad_value=float(spec.get("pad_value", 0)),
        )

    def load(
        self,
        *,
        preferences: list[str],
        intra_op_threads: int,
        inter_op_threads: int,
        warmup_batch_sizes: Sequence[int] = (1,),
    ) -> None:
        """Create the session, record providers and tensor specs, and run one warm-up batch of each of
        ``warmup_batch_sizes`` (blocking): the first run of a shape is the slow one (memory planning, and on a
        GPU kernel selection), and it is paid here rather than by a request.

        A version found broken by the scan (``failed`` already, its ``error`` naming the file) is left so.
        """
        if self.state == "failed":
            return
        try:
            session, providers = create_session(
                self.path / "model.onnx",
                preferences=preferences,
                intra_op_threads=intra_op_threads,
                inter_op_threads=inter_op_threads,
            )
            self._session, self.providers = session, providers
            self.inputs = [_spec(i) for i in session.get_inputs()]
            self.outputs = [_spec(o) for o in session.get_outputs()]
            started = time.monotonic()
            batched = all(t.shape and t.shape[0] == -1 for t in self.inputs)
            sizes = list(dict.fromkeys(warmup_batch_sizes)) if batched else [0]  # 0: the fixed shape, once
            for rows in sizes:
                self.run(self._warmup_inputs(rows))
            self.warmed_batch_sizes = tuple(sizes)
        except Exception as exc:
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("model %s version %s failed to load: %s", self.name, self.version, self.error)
            return
        self.state = "ready"
        log.info(
            "model %s version %s ready on %s (warm-up: %d batch sizes in %.2f s)",
            self.name,
            self.version,
            ", ".join(providers),
            len(sizes),
            time.monotonic() - started,
        )

    def start_batching(
        self,
        executor: Executor,
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        queue_size: int,
        instances: int,
        observer: BatchObserver | None = None,
    ) -> Batcher:
        """Give this (ready) version its dynamic batcher, running `run` in ``executor``; start it.

        ``max_batch_size`` is the setting: `batch_limit` caps it by config.pbtxt.
        """
        if not self.ready:
            raise Unavailable(f"model {self.name} version {self.version} is not loaded")
        self.batcher = Batcher(
            self.name,
            self.version,
            self.run,
            executor,
            max_batch_size=self.batch_limit(max_batch_size),
            max_queue_delay_s=max_queue_delay_s,
            queue_size=queue_size,
            instances=instances,
            observer=observer,
        )
        self.batcher.start()
        return self.batcher

    async def stop_batching(self, grace_s: float) -> None:
        """Run what the batcher holds (for up to ``grace_s``), then end it."""
        if self.batcher is not None:
            await self.batcher.stop(grace_s)

    async def retire(self, grace_s: float, settle_s: float = 1.0) -> None:
        """Leave service once replaced or removed: requests already queued or running here finish; once its
        queue has been empty for ``settle_s`` (a request that looked this version up before the swap may still
        arrive), or ``grace_s`` has passed, the batcher stops and the session is released."""
        deadline = time.monotonic() + grace_s
        quiet_since = time.monotonic()
        while self.batcher is not None and time.monotonic() < deadline:
            if self.batcher.depth:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle_s:
                break
            await asyncio.sleep(0.05)
        await self.stop_batching(max(0.0, deadline - time.monotonic()))
        self._session = None  # the session's memory goes with the last reference
        log.info("model %s version %s unloaded", self.name, self.version)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A blocking session call (releases the GIL): ``{input: [N, ...]}`` -> ``{output: [N, ...]}``"""
        if self._session is None:
            raise Unavailable(f"model {self.name} version {self.version} is not loaded")
        values = self._session.run(None, dict(inputs))
        return {spec.name: np.asarray(v) for spec, v in zip(self.outputs, values, strict=True)}

    def _warmup_inputs(self, rows: int) -> dict[str, np.ndarray]:
        """Zeros for every input, ``rows`` on the batch axis (``0``: the model's own fixed shape)."""
        sizes = {0: rows} if rows else {}
        if self.is_detector:
            spec = self.input_spec()
            sizes |= {2: spec.height, 3: spec.width}
        out = {}
        for t in self.inputs:
            shape = [d if d > 0 else sizes.get(i, 1) for i, d in enumerate(t.shape)]
            dtype = DATATYPES.get(t.datatype, DATATYPES["FP32"])
            out[t.name] = np.zeros(shape, dtype=np.float32 if dtype.hasobject else dtype)
        return out


def _spec(node: Any) -> TensorSpec:
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in node.shape]
    return TensorSpec(node.name, datatype_of_onnx(node.type), shape)


def _triple(values: Any) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return (a, b, c)
