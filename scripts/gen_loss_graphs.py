"""Write the ONNX graphs that `losses._ort` runs: ``losses/_graphs/*.onnx``.

This script is the only writer of ``losses/_graphs/``. It needs the ``onnx`` package (the ``train``
extra); the loss library only reads the committed bytes, so the serving image needs onnxruntime alone.
Usage (from the project root)::

    python scripts/gen_loss_graphs.py            # regenerate losses/_graphs/
    python scripts/gen_loss_graphs.py --out DIR  # write into DIR instead (the freshness test does this)

``row_exp_sums.onnx``: input ``x`` float32 ``[N, C]``; outputs ``sums [N] = sum_j exp(x[:, j])`` and
``lows [N] = min_j x[:, j]``. ONNX Runtime's ``Exp`` is a vectorised kernel on several threads, several
times faster per element than numpy's ``exp``; the cross-entropy kernel finishes each row in float64.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "losses" / "_graphs"
OPSET = 18
IR_VERSION = 9  # the oldest IR that opset 18 allows: loads on every onnxruntime the project supports


def row_exp_sums() -> bytes:
    from onnx import TensorProto, checker, helper

    axis = helper.make_tensor("last_axis", TensorProto.INT64, [1], [-1])
    nodes = [
        helper.make_node("Exp", ["x"], ["e"]),
        helper.make_node("ReduceSum", ["e", "last_axis"], ["sums"], keepdims=0),
        helper.make_node("ReduceMin", ["x", "last_axis"], ["lows"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "row_exp_sums",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "C"])],
        [
            helper.make_tensor_value_info("sums", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("lows", TensorProto.FLOAT, ["N"]),
        ],
        initializer=[axis],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="focalserve.losses"
    )
    model.ir_version = IR_VERSION
    checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString(deterministic=True))


GRAPHS = {"row_exp_sums.onnx": row_exp_sums}


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in GRAPHS.items():
        path = out / name
        path.write_bytes(build())
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for path in write(args.out):
        print(path)


if __name__ == "__main__":
    main()
