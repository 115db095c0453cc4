"""Training speed of the default detector on this machine, and the recorded time of the default model.

Rows (images/s, median of `--repeats` timed steps after a warm-up, batch `--batch`):
  network      forward + backward of the network alone, no loss: the reference (the compute floor of a step);
  train step   a full step: anchor matching, focal loss from `losses`, box loss, AdamW: ratio vs network;
  inference    forward + the torch post-processing (decode, per-class NMS): the evaluation path;
  onnxruntime  the exported default model (models/detector) in ONNX Runtime, post-processing in the graph.
The last table reads models/detector/1/metadata.json: how long producing the default model took when it was
exported (training seconds, iterations, images/s) and the time a full run would take at this machine's rate.

    .venv/bin/python benchmarks/train.py [--batch 16] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, sys.path[0] is benchmarks/, whose losses.py would shadow the `losses` package.
sys.path[0] = str(ROOT)

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from model_export import (  # noqa: E402
    Detector,
    DetectorConfig,
    PostprocessConfig,
    generate,
    load_coco,
    make_anchors,
    postprocess,
)
from model_export.default_model import DEFAULT_RECIPE  # noqa: E402
from model_export.heldout import TRAIN_MIX  # noqa: E402
from model_export.preprocess import InputSpec  # noqa: E402


def _median_rate(step: Callable[[], None], images: int, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return images / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # the default model's recipe: its input size and its training mix of image sizes and densities
    spec = InputSpec(height=DEFAULT_RECIPE.input_size, width=DEFAULT_RECIPE.input_size)
    with tempfile.TemporaryDirectory() as tmp:
        data = load_coco(generate(Path(tmp), args.batch, seed=0, cfg=TRAIN_MIX), spec)
    cfg = DetectorConfig()
    model = Detector(cfg)
    anchors = make_anchors(cfg.anchors, spec.height, spec.width)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, targets = data.images, data.targets

    def network() -> None:
        cls, box = model(x)
        (cls.sum() + box.sum()).backward()  # type: ignore[no-untyped-call]
        opt.zero_grad(set_to_none=True)

    def train_step() -> None:
        cls, box = model(x)
        parts = model.head.compute_loss(targets, cls, box, anchors, cfg.anchors)
        (parts["cls"] + parts["box"]).backward()  # type: ignore[no-untyped-call]
        opt.step()
        opt.zero_grad(set_to_none=True)

    def inference() -> None:
        with torch.no_grad():
            cls, box = model(x)
        postprocess(cls, box, anchors, (spec.height, spec.width), PostprocessConfig())

    rows: list[tuple[str, float]] = []
    model.train()
    rows.append(("network (fwd+bwd, reference)", _median_rate(network, args.batch, args.repeats)))
    rows.append(("train step", _median_rate(train_step, args.batch, args.repeats)))
    model.eval()
    rows.append(("inference (torch + NMS)", _median_rate(inference, args.batch, args.repeats)))
    onnx_path = ROOT / "models" / "detector" / "1" / "model.onnx"
    if onnx_path.exists():
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        xn = x.numpy()
        rate = _median_rate(lambda: sess.run(None, {"images": xn}), args.batch, args.repeats)
        rows.append(("onnxruntime (default model)", rate))
    ref = rows[0][1]
    console = Console()
    table = Table(
        "row",
        "images/s",
        "vs reference",
        title=f"training speed, batch {args.batch}, input {spec.width}x{spec.height}, threads {args.threads}",
    )
    for name, rate in rows:
        table.add_row(name, f"{rate:.1f}", f"{rate / ref:.2f}x")
    console.print(table)
    meta_path = onnx_path.parent / "metadata.json"
    if meta_path.exists():
        tr = json.loads(meta_path.read_text())["training"]
        step_rate = rows[1][1]
        images = int(tr["iterations"]) * int(tr.get("batch_size", args.batch))
        t2 = Table(
            "",
            "recorded at export",
            "this machine (train-step rate)",
            title="default model (models/detector)",
        )
        t2.add_row("iterations x batch", f"{tr['iterations']} x {tr.get('batch_size', '?')}", "")
        t2.add_row(
            "training seconds",
            f"{tr.get('seconds', float('nan')):.0f}",
            f"{images / step_rate:.0f} (steps only)",
        )
        t2.add_row("images/s", f"{tr.get('images_per_second', float('nan')):.1f}", f"{step_rate:.1f}")
        console.print(t2)


if __name__ == "__main__":
    main()
