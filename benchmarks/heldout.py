"""Held-out accuracy as a user sees it: COCO mAP of `/v1/models/{model}/detect` on synthetic splits.

One row per split of `model_export.heldout.HELDOUT_SPLITS` (any size and aspect ratio, dense scenes): the
split is generated with its own seed (`--seed` + row number, seeds no training recipe uses), every image is
sent as a PNG to the real service (``python -m service`` on port 0, its own process), and the answers (boxes
in image pixels, the model's own score threshold, no request filter) are scored with pycocotools. The
`cap hit` column counts images whose answer has as many detections as the model's cap (`max_detections`).

    .venv/bin/python benchmarks/heldout.py [--model-repository models] [--images 300] [--seed 20]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # run as a script: benchmarks/losses.py would shadow the `losses` package

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.service_load import free_port, wait_ready  # noqa: E402
from model_export.evaluate import coco_map  # noqa: E402
from model_export.heldout import HELDOUT_SPLITS  # noqa: E402
from model_export.synthetic import generate  # noqa: E402


async def _detect_all(url: str, model: str, files: list[Path], concurrency: int) -> list[dict[str, Any]]:
    """Each image's answer (`images[0]` of its response), in file order; `concurrency` requests in flight."""
    out: list[dict[str, Any]] = [{} for _ in files]
    queue = list(enumerate(files))
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def worker() -> None:
            while queue:
                i, path = queue.pop(0)
                body, headers = path.read_bytes(), {"content-type": "image/png"}
                r = await client.post(f"/v1/models/{model}/detect", content=body, headers=headers)
                r.raise_for_status()
                out[i] = r.json()["images"][0]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def _row(url: str, model: str, cap: int, root: Path, seed: int, images: int, name: str) -> dict[str, Any]:
    import json

    annotations = generate(root / f"split-{seed}", images, seed, HELDOUT_SPLITS[name])
    coco = json.loads(annotations.read_text())
    infos = sorted(coco["images"], key=lambda d: d["id"])
    files = [annotations.parent / "images" / d["file_name"] for d in infos]
    answers = asyncio.run(_detect_all(url, model, files, concurrency=4))
    results = []
    for info, answer in zip(infos, answers, strict=True):
        for box, score, cls in zip(answer["boxes"], answer["scores"], answer["class_ids"], strict=True):
            x1, y1, x2, y2 = box
            results.append(
                {"image_id": info["id"], "category_id": int(cls) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                 "score": score}
            )  # fmt: skip
    metrics = coco_map(annotations, results)
    capped = sum(len(a["boxes"]) >= cap for a in answers)
    return {"name": name, "seed": seed, **metrics.as_dict(), "capped": capped, "images": images}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-repository", type=Path, default=ROOT / "models")
    ap.add_argument("--model", default="detector")
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = (Path(tmp) / "service.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--model-repository", str(args.model_repository),
             "--http-port", str(port), "--grpc-port", str(grpc_port), "--log-level", "warning"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_ready(url, "/v2/health/ready", proc)
            meta = httpx.get(f"{url}/v1/models").json()["models"]
            version = next(m for m in meta if m["name"] == args.model)["versions"][-1]
            cap = int(version.get("max_detections", 100))
            rows = [
                _row(url, args.model, cap, Path(tmp), args.seed + k, args.images, name)
                for k, name in enumerate(HELDOUT_SPLITS)
            ]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    size = f"{version['input']['width']}x{version['input']['height']}"
    title = f"{args.model_repository}/{args.model}: input {size}, {args.images} images a row"
    table = Table("images", "seed", "mAP@[.5:.95]", "mAP@0.5", "mAP@0.75", "cap hit", title=title)
    for r in rows:
        table.add_row(
            r["name"], str(r["seed"]), f"{r['mAP']:.3f}", f"{r['mAP50']:.3f}", f"{r['mAP75']:.3f}",
            f"{r['capped']} of {r['images']}",
        )  # fmt: skip
    Console().print(table)
    if args.json is not None:
        import json

        args.json.write_text(json.dumps({"input": version["input"], "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
