"""The model configuration extension: a v2 model version's configuration in Triton's ``ModelConfig`` form.

`model_config` writes the one document both edges answer: REST sends it as JSON (Triton's JSON form of
``ModelConfig``, integers as numbers), gRPC parses it into the ``inference.ModelConfig`` message (whose
fields, numbered as Triton's, are those this document fills: proto/focalserve/model_config.proto).

What the service really does, not what a config.pbtxt asks for: ``max_batch_size`` is the batch limit the
version's batcher runs with (the setting, capped by config.pbtxt), the ``dims`` are the graph's (without the
batch dimension when ``max_batch_size`` > 0; ``-1``: any size), ``dynamic_batching`` has the service's
``max_queue_delay_ms``, ``instance_group`` its ``model_instances`` on the execution provider the version runs
on (``KIND_GPU`` on CUDA, else ``KIND_CPU``), ``version_policy`` the model's config.pbtxt (Triton's default,
the latest version, without one). A loss model has no batch dimension (``max_batch_size`` 0) and runs in the
CPU pool (``preprocess_threads`` instances).
"""

from __future__ import annotations

from typing import Any

from ..core.backend import CUDA
from ..core.model_config import VersionPolicy, read_config
from ..core.model_version import ModelVersion, TensorSpec
from ..core.state import ServiceState
from .loss_models import LossV2Model
from .registry import V2Model

__all__ = ["data_type", "model_config"]

#: config.pbtxt's backend name per v2 platform.
_BACKENDS = {"onnxruntime_onnx": "onnxruntime", LossV2Model.platform: "losses"}


def data_type(datatype: str) -> str:
    """A protocol datatype as ``ModelConfig`` names it: FP32 -> ``TYPE_FP32``, BYTES -> ``TYPE_STRING``."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def model_config(model: V2Model, version: str | None, state: ServiceState) -> dict[str, Any]:
    """The configuration of ``model``'s ``version`` (None: the default version). Raises `NotFound`."""
    settings = state.settings
    if isinstance(model, LossV2Model):
        return _document(
            model,
            max_batch_size=0,
            inputs=model.inputs(),
            outputs=model.outputs(),
            policy=VersionPolicy(),
            instances=_instances(model.name, settings.preprocess_threads, gpu=False),
            filename="",
        )
    mv = state.registry.get(model.name, version)
    config = _document(
        model,
        max_batch_size=mv.batch_limit(settings.max_batch_size),
        inputs=mv.inputs,
        outputs=mv.outputs,
        policy=_version_policy(mv),
        instances=_instances(mv.name, settings.model_instances, gpu=mv.providers[:1] == [CUDA]),
        filename="model.onnx",
    )
    config["dynamic_batching"] = {
        "preferred_batch_size": [],
        "max_queue_delay_microseconds": round(settings.max_queue_delay_ms * 1000),
        "preserve_ordering": False,
    }
    return config


def _document(
    model: V2Model,
    *,
    max_batch_size: int,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    policy: VersionPolicy,
    instances: list[dict[str, Any]],
    filename: str,
) -> dict[str, Any]:
    skip = 1 if max_batch_size > 0 else 0  # dims leave the batch dimension out
    return {
        "name": model.name,
        "platform": model.platform,
        "backend": _BACKENDS.get(model.platform, ""),
        "version_policy": _policy(policy),
        "max_batch_size": max_batch_size,
        "input": [
            {
                "name": t.name,
                "data_type": data_type(t.datatype),
                "format": "FORMAT_NONE",
                "dims": list(t.shape[skip:]),
                "is_shape_tensor": False,
                "allow_ragged_batch": False,
                "optional": False,
            }
            for t in inputs
        ],
        "output": [
            {
                "name": t.name,
                "data_type": data_type(t.datatype),
                "dims": list(t.shape[skip:]),
                "label_filename": "",
                "is_shape_tensor": False,
            }
            for t in outputs
        ],
        "instance_group": instances,
        "default_model_filename": filename,
    }


def _instances(name: str, count: int, *, gpu: bool) -> list[dict[str, Any]]:
    kind, gpus = ("KIND_GPU", [0]) if gpu else ("KIND_CPU", [])
    return [{"name": f"{name}_0", "kind": kind, "count": count, "gpus": gpus}]


def _version_policy(mv: ModelVersion) -> VersionPolicy:
    """The model's version policy: a load request's configuration's, or config.pbtxt's (the scan has read the
    same file)."""
    if mv.version_policy is not None:
        return mv.version_policy
    path = mv.path.parent / "config.pbtxt"
    try:
        return read_config(path.read_text()).version_policy if path.is_file() else VersionPolicy()
    except (OSError, UnicodeDecodeError, ValueError):  # changed since the scan: say Triton's default
        return VersionPolicy()


def _policy(policy: VersionPolicy) -> dict[str, Any]:
    if policy.kind == "all":
        return {"all": {}}
    if policy.kind == "specific":
        return {"specific": {"versions": list(policy.versions)}}
    return {"latest": {"num_versions": policy.num_versions}}
