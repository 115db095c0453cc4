"""GPU check: does the CUDA provider serve the default model with the CPU's detections, and how fast?

    python benchmarks/gpu_check.py [--model-repository models] [--images 64] [--out DIR]
        [--candidate auto] [--reference cpu] [--allow-fallback] [--skip-service]

1. In-process: the model loaded twice through the service's own loader (`ModelVersion.load`), once with the
   candidate setting (default ``auto``, the service's: CUDA when it works) and once with the reference
   (``cpu``); what each really runs on (``get_providers()``) is reported: ONNX Runtime falls back silently.
2. The same batch of held-out synthetic images (split seed 2, as the README's mAP) through both; detections
   compared: same count and classes per image, scores within ``--score-tol``, boxes within ``--box-tol`` px.
3. Throughput at batch 1 and 32 for both (images/s, median over timed calls), and candidate / reference.
4. Unless ``--skip-service``: the real service (``python -m service``) started once per provider setting; its
   ``/v1/models`` must name the provider, and ``POST /v1/models/detector/detect`` must answer the same
   detections from both.

Writes ``gpu_check.json`` and prints a table; exits 0 when everything matched on the asked provider, 1 on a
mismatch, 2 when the candidate provider is not what the sessions run on (``--allow-fallback`` turns that into
a note, for trying the script on a machine without a GPU). Device procedure: docs/deployment.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.service_load import free_port, wait_ready  # noqa: E402

#: what a provider setting should run on (``auto``, the service's default, should find CUDA on a GPU machine)
PROVIDER = {"auto": "CUDAExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


def held_out_images(count: int, seed: int = 2) -> list[bytes]:
    """PNG bytes of the first ``count`` images of the held-out synthetic split.

    The generator is loaded from its file: it needs numpy and Pillow only, while importing the
    ``model_export`` package pulls in torch and pycocotools, which a serving host (or the GPU box) may lack.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("_synthetic", ROOT / "model_export" / "synthetic.py")
    assert spec is not None and spec.loader is not None
    synthetic = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = synthetic  # dataclasses look their module up while the class is created
    spec.loader.exec_module(synthetic)
    out = []
    for i in range(count):
        image, _ = synthetic.render_image(seed, i, synthetic.SyntheticConfig())
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def compare_detections(
    got: list[dict[str, np.ndarray]], want: list[dict[str, np.ndarray]], *, score_tol: float, box_tol: float
) -> list[str]:
    """Differences between two lists of per-image detections (``boxes [n, 4]``, ``scores [n]``,
    ``labels [n]``), each sorted by score; empty when they agree. Pure, so it is tested without a GPU."""
    problems = []
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if len(a["scores"]) != len(b["scores"]):
            problems.append(f"image {i}: {len(a['scores'])} detections, reference {len(b['scores'])}")
            continue
        if not np.array_equal(a["labels"], b["labels"]):
            problems.append(f"image {i}: classes {a['labels'].tolist()}, reference {b['labels'].tolist()}")
            continue
        score_diff = float(np.max(np.abs(a["scores"] - b["scores"]), initial=0.0))
        box_diff = float(np.max(np.abs(a["boxes"] - b["boxes"]), initial=0.0))
        if score_diff > score_tol:
            problems.append(f"image {i}: scores differ by {score_diff:.2e} (tolerance {score_tol:g})")
        if box_diff > box_tol:
            problems.append(f"image {i}: boxes differ by {box_diff:.3f} px (tolerance {box_tol:g})")
    return problems


def _per_image(
    outputs: dict[str, np.ndarray], names: dict[str, str], threshold: float
) -> list[dict[str, Any]]:
    out = []
    for i in range(len(outputs[names["num_detections"]])):
        n = int(outputs[names["num_detections"]][i])
        scores = outputs[names["scores"]][i, :n]
        keep = scores >= threshold
        out.append(
            {
                "boxes": outputs[names["boxes"]][i, :n][keep],
                "scores": scores[keep],
                "labels": outputs[names["labels"]][i, :n][keep].astype(np.int64),
            }
        )
    return out


def _images_per_second(run: Any, batch: np.ndarray, seconds: float) -> float:
    run(batch)  # warm-up: the first call of a shape sets up kernels
    times = []
    until = time.perf_counter() + seconds
    while time.perf_counter() < until or len(times) < 5:
        t0 = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t0)
    return len(batch) / statistics.median(times)


def in_process(args: argparse.Namespace, images: list[bytes]) -> dict[str, Any]:
    from service.core.preprocess import prepare_image
    from service.core.repository import scan_repository
    from service.settings import Settings

    settings = Settings(model_repository=args.model_repository)
    results: dict[str, Any] = {}
    detections = {}
    for role, preference in (("candidate", args.candidate), ("reference", args.reference)):
        mv = scan_repository(args.model_repository).get(args.model)
        mv.load(
            preferences=[preference],
            intra_op_threads=settings.intra_op_threads,
            inter_op_threads=settings.inter_op_threads,
        )
        if not mv.ready:
            results[role] = {"preference": preference, "error": mv.error}
            continue
        spec = mv.input_spec()
        batch = np.stack([prepare_image(b, spec, max_pixels=10**8).tensor for b in images])
        names = {
            k: mv.metadata.get("outputs", {}).get(k, k)
            for k in ("boxes", "scores", "labels", "num_detections")
        }
        detections[role] = _per_image(mv.run({spec.name: batch}), names, args.threshold)

        def run(x: np.ndarray, mv: Any = mv, name: str = spec.name) -> None:
            mv.run({name: x})

        results[role] = {
            "preference": preference,
            "providers": mv.providers,
            "images_per_s": {
                str(b): _images_per_second(run, np.repeat(batch[:1], b, axis=0), args.seconds)
                for b in (1, 32)
            },
        }
    if len(detections) == 2:
        results["differences"] = compare_detections(
            detections["candidate"], detections["reference"], score_tol=args.score_tol, box_tol=args.box_tol
        )
        results["detections"] = sum(len(d["scores"]) for d in detections["reference"])
    return results


def through_service(args: argparse.Namespace, images: list[bytes]) -> dict[str, Any]:
    """Start the service per provider setting, ask what it runs on, and compare its answers."""
    import httpx

    answers: dict[str, list[dict[str, np.ndarray]]] = {}
    results: dict[str, Any] = {}
    for role, preference in (("candidate", args.candidate), ("reference", args.reference)):
        port = free_port()
        env = os.environ | {"FOCALSERVE_EXECUTION_PROVIDERS": preference, "FOCALSERVE_LOG_LEVEL": "warning"}
        cmd = [sys.executable, "-m", "service", "--model-repository", str(args.model_repository)]
        cmd += ["--http-port", str(port), "--grpc-port", str(free_port())]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, "/v2/health/ready", proc)
            with httpx.Client(base_url=base, timeout=60) as client:
                models = client.get("/v1/models").json()["models"]
                entry = next(m for m in models if m["name"] == args.model)
                providers = [v["providers"] for v in entry["versions"]]
                results[role] = {"preference": preference, "providers": providers}
                url = f"/v1/models/{args.model}/detect"
                answers[role] = []
                for image in images:
                    r = client.post(url, content=image, headers={"content-type": "image/png"})
                    r.raise_for_status()
                    d = r.json()["images"][0]
                    keep = np.asarray(d["scores"]) >= args.threshold
                    answers[role].append(
                        {
                            "boxes": np.asarray(d["boxes"]).reshape(-1, 4)[keep],
                            "scores": np.asarray(d["scores"])[keep],
                            "labels": np.asarray(d["class_ids"], dtype=np.int64)[keep],
                        }
                    )
        finally:
            proc.terminate()
            proc.wait(30)
    results["differences"] = compare_detections(
        answers["candidate"], answers["reference"], score_tol=args.score_tol, box_tol=args.box_tol
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-repository", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="detector")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--candidate", default="auto", choices=sorted(PROVIDER))
    parser.add_argument("--reference", default="cpu", choices=sorted(PROVIDER))
    parser.add_argument(
        "--threshold", type=float, default=0.3, help="compare detections scoring at least this"
    )
    parser.add_argument("--score-tol", type=float, default=2e-3)
    parser.add_argument("--box-tol", type=float, default=0.5, help="pixels")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per throughput point")
    parser.add_argument("--allow-fallback", action="store_true")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import onnxruntime as ort

    images = held_out_images(args.images)
    report: dict[str, Any] = {
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "in_process": in_process(args, images),
    }
    loaded = all("error" not in report["in_process"][role] for role in ("candidate", "reference"))
    if loaded and not args.skip_service:
        report["service"] = through_service(args, images)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    return _summary(report, args)


def _summary(report: dict[str, Any], args: argparse.Namespace) -> int:
    print(f"onnxruntime {report['onnxruntime']}; available: {', '.join(report['available_providers'])}")
    inproc = report["in_process"]
    status = 0
    for role in ("candidate", "reference"):
        r = inproc[role]
        if "error" in r:
            print(f"{role} ({r['preference']}): failed to load: {r['error']}")
            return 2
        rates = r["images_per_s"]
        print(
            f"{role:<9} asked {r['preference']:<4} runs on {r['providers'][0]:<22} "
            f"batch 1 {rates['1']:>9.1f} img/s  batch 32 {rates['32']:>9.1f} img/s"
        )
    for b in ("1", "32"):
        ratio = inproc["candidate"]["images_per_s"][b] / inproc["reference"]["images_per_s"][b]
        print(f"batch {b:>2}: candidate / reference {ratio:.2f}x")
    ran_on = [inproc["candidate"]["providers"][0]]
    if "service" in report:  # what the service says each version of the model runs on
        served = report["service"]["candidate"]["providers"]
        print(f"service with {args.candidate!r} reports {served}")
        ran_on += [p[0] if p else "none" for p in served]
    if any(p != PROVIDER[args.candidate] for p in ran_on):
        print(f"the candidate runs on {sorted(set(ran_on))}, not {PROVIDER[args.candidate]}")
        status = 0 if args.allow_fallback else 2
    for where in ("in_process", "service"):
        if where in report:
            diffs = report[where]["differences"]
            print(f"{where}: {'same detections' if not diffs else f'{len(diffs)} differences'}")
            for line in diffs[:10]:
                print("  " + line)
            status = status or (1 if diffs else 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
