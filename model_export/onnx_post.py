"""The post-processing as an ONNX graph (decode, clip, NonMaxSuppression, top-D, padding), merged with the
exported network graph. Mirrors `postprocess.postprocess` node for node."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import Tensor

from .anchors import BBOX_CLIP
from .postprocess import PostprocessConfig

__all__ = ["OUTPUT_NAMES", "append_postprocess"]

OUTPUT_NAMES = ("boxes", "scores", "labels", "num_detections")
P = "post/"  # prefix of every name this module adds


def _const(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(value, P + name))
    return P + name


def append_postprocess(
    model: onnx.ModelProto,
    anchors: Tensor,
    image_size: tuple[int, int],
    cfg: PostprocessConfig,
    cls_name: str = "cls_logits",
    box_name: str = "box_deltas",
) -> onnx.ModelProto:
    """Append the post-processing to `model` (outputs `cls_logits [N,A,C]`, `box_deltas [N,A,4]`), in place.

    The graph's outputs become `boxes [N,D,4]`, `scores [N,D]`, `labels [N,D]`, `num_detections [N]`.
    """
    g = model.graph
    batch_dim = g.input[0].type.tensor_type.shape.dim[0]
    batch = batch_dim.dim_param or "N"
    cls_out = next(o for o in g.output if o.name == cls_name)
    num_classes = cls_out.type.tensor_type.shape.dim[2].dim_value
    a = int(anchors.shape[0])
    d = min(cfg.max_detections, a * num_classes)
    h, w = image_size
    # Anchor centres and sizes, computed with the same float32 torch ops as decode_boxes.
    aw = anchors[:, 2] - anchors[:, 0]  # [A]
    ah = anchors[:, 3] - anchors[:, 1]  # [A]
    ctr = np.stack([(anchors[:, 0] + 0.5 * aw).numpy(), (anchors[:, 1] + 0.5 * ah).numpy()], axis=1)  # [A, 2]
    wh = np.stack([aw.numpy(), ah.numpy()], axis=1).astype(np.float32)  # [A, 2]
    c = {
        "ctr": _const(g, "anchor_ctr", ctr.astype(np.float32)),
        "wh": _const(g, "anchor_wh", wh),
        "clip": _const(g, "bbox_clip", np.array(BBOX_CLIP, dtype=np.float32)),
        "half": _const(g, "half", np.array(0.5, dtype=np.float32)),
        "zero": _const(g, "zero", np.array(0.0, dtype=np.float32)),
        "limits": _const(g, "limits", np.array([w, h, w, h], dtype=np.float32)),
        "s0": _const(g, "s0", np.array([0], dtype=np.int64)),
        "s2": _const(g, "s2", np.array([2], dtype=np.int64)),
        "s4": _const(g, "s4", np.array([4], dtype=np.int64)),
        "max_out": _const(g, "max_out", np.array([d], dtype=np.int64)),
        "iou": _const(g, "iou_threshold", np.array([cfg.iou_threshold], dtype=np.float32)),
        "score": _const(g, "score_threshold", np.array([cfg.score_threshold], dtype=np.float32)),
        "flat": _const(g, "flat_shape", np.array([0, -1], dtype=np.int64)),
        "k": _const(g, "k", np.array([d], dtype=np.int64)),
        "sentinel": _const(g, "sentinel", np.array(-0.5, dtype=np.float32)),
        "num_anchors": _const(g, "num_anchors", np.array(a, dtype=np.int64)),
        "minus1": _const(g, "minus1", np.array(-1, dtype=np.int64)),
        "ax2": _const(g, "axes2", np.array([2], dtype=np.int64)),
        "ax1": _const(g, "axes1", np.array([1], dtype=np.int64)),
        "expand4": _const(g, "expand4", np.array([1, 1, 4], dtype=np.int64)),
    }

    def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> list[str]:
        g.node.append(helper.make_node(op, inputs, [P + o for o in outputs], name=P + outputs[0], **attrs))
        return [P + o for o in outputs]

    (scores,) = node("Sigmoid", [cls_name], ["scores_all"])  # [N, A, C]
    (d_xy,) = node("Slice", [box_name, c["s0"], c["s2"], c["ax2"]], ["d_xy"])  # [N, A, 2]
    (d_wh,) = node("Slice", [box_name, c["s2"], c["s4"], c["ax2"]], ["d_wh"])  # [N, A, 2]
    (t,) = node("Mul", [d_xy, c["wh"]], ["d_xy_scaled"])
    (centre,) = node("Add", [t, c["ctr"]], ["centre"])  # [N, A, 2]
    (t,) = node("Min", [d_wh, c["clip"]], ["d_wh_clipped"])
    (t,) = node("Exp", [t], ["exp_wh"])
    (size,) = node("Mul", [t, c["wh"]], ["size"])  # [N, A, 2]
    (half,) = node("Mul", [size, c["half"]], ["half_size"])
    (lo,) = node("Sub", [centre, half], ["lo"])
    (hi,) = node("Add", [centre, half], ["hi"])
    (t,) = node("Concat", [lo, hi], ["boxes_raw"], axis=2)  # [N, A, 4]
    (t,) = node("Max", [t, c["zero"]], ["boxes_pos"])
    (boxes,) = node("Min", [t, c["limits"]], ["boxes_all"])  # [N, A, 4] clipped
    (scores_t,) = node("Transpose", [scores], ["scores_t"], perm=[0, 2, 1])  # [N, C, A]
    (sel,) = node(
        "NonMaxSuppression",
        [boxes, scores_t, c["max_out"], c["iou"], c["score"]],
        ["selected"],
        center_point_box=0,
    )  # [K, 3]: (image, class, anchor)
    (sel_scores,) = node("GatherND", [scores_t, sel], ["selected_scores"])  # [K]
    (shape,) = node("Shape", [scores_t], ["scores_shape"])
    (dense,) = node(
        "ConstantOfShape",
        [shape],
        ["dense_init"],
        value=helper.make_tensor("v", TensorProto.FLOAT, [1], [-1.0]),
    )  # [N, C, A] of -1
    (dense,) = node("ScatterND", [dense, sel, sel_scores], ["dense"])  # kept scores, -1 elsewhere
    (flat,) = node("Reshape", [dense, c["flat"]], ["dense_flat"])  # [N, C*A]
    top_scores, top_idx = node("TopK", [flat, c["k"]], ["top_scores", "top_idx"], axis=1, largest=1, sorted=1)
    (valid,) = node("Greater", [top_scores, c["sentinel"]], ["valid"])  # [N, D]
    (labels,) = node("Div", [top_idx, c["num_anchors"]], ["labels_raw"])  # [N, D]
    (t,) = node("Mul", [labels, c["num_anchors"]], ["label_offset"])
    (anchor_idx,) = node("Sub", [top_idx, t], ["anchor_idx"])  # [N, D]
    (t,) = node("Unsqueeze", [anchor_idx, c["ax2"]], ["anchor_idx3"])  # [N, D, 1]
    (t,) = node("Expand", [t, c["expand4"]], ["anchor_idx4"])  # [N, D, 4]
    (top_boxes,) = node("GatherElements", [boxes, t], ["top_boxes"], axis=1)  # [N, D, 4]
    (valid3,) = node("Unsqueeze", [valid, c["ax2"]], ["valid3"])  # [N, D, 1]
    g.node.append(helper.make_node("Where", [valid3, top_boxes, c["zero"]], ["boxes"], name=P + "boxes"))
    g.node.append(helper.make_node("Where", [valid, top_scores, c["zero"]], ["scores"], name=P + "scores"))
    g.node.append(helper.make_node("Where", [valid, labels, c["minus1"]], ["labels"], name=P + "labels"))
    (t,) = node("Cast", [valid], ["valid_int"], to=TensorProto.INT64)
    g.node.append(
        helper.make_node(
            "ReduceSum", [t, c["ax1"]], ["num_detections"], name=P + "num_detections", keepdims=0
        )
    )
    del g.output[:]
    g.output.extend(
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, d, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, d]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [batch, d]),
            helper.make_tensor_value_info("num_detections", TensorProto.INT64, [batch]),
        ]
    )
    return model
