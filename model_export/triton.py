"""The Triton model configuration (`config.pbtxt`, protobuf text format) of an exported detector."""

from __future__ import annotations

__all__ = ["triton_config"]


def triton_config(
    name: str,
    input_dims: tuple[int, int, int],
    max_detections: int,
    max_batch_size: int = 32,
    preferred_batch_sizes: tuple[int, ...] = (4, 8, 16),
    max_queue_delay_microseconds: int = 2000,
) -> str:
    """Text of config.pbtxt: platform onnxruntime_onnx, dims without the batch axis, dynamic batching.

    `num_detections` is `[N]` in the graph, so its per-request dims are `[1]` reshaped to a scalar.
    """
    c, h, w = input_dims
    d = max_detections
    preferred = ", ".join(str(p) for p in preferred_batch_sizes if p <= max_batch_size)
    return f"""name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch_size}
input [
  {{ name: "images" data_type: TYPE_FP32 dims: [ {c}, {h}, {w} ] }}
]
output [
  {{ name: "boxes" data_type: TYPE_FP32 dims: [ {d}, 4 ] }},
  {{ name: "scores" data_type: TYPE_FP32 dims: [ {d} ] }},
  {{ name: "labels" data_type: TYPE_INT64 dims: [ {d} ] }},
  {{ name: "num_detections" data_type: TYPE_INT64 dims: [ 1 ] reshape: {{ shape: [ ] }} }}
]
dynamic_batching {{
  preferred_batch_size: [ {preferred} ]
  max_queue_delay_microseconds: {max_queue_delay_microseconds}
}}
version_policy: {{ latest: {{ num_versions: 1 }} }}
"""
