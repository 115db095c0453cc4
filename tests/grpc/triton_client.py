"""Run by test_tritonclient.py in its OWN process: tritonclient.grpc registers its own copy of the protocol's
``inference.*`` messages, which cannot share a process with this service's stubs. Prints one JSON object."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.grpc.live import client_arrays


def main(grpc_target: str, http_url: str, key: str) -> dict[str, object]:
    headers = {
        "x-api-key": key
    }  # copied per call: tritonclient.http adds its own entries to the dict it gets
    images, logits, targets = client_arrays()
    out: dict[str, object] = {}
    # tritonclient's copy of inference.* must be the only one here: none of the service's modules loaded
    out["service_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "service")

    client = grpcclient.InferenceServerClient(grpc_target)
    out["grpc_live"] = client.is_server_live(headers=dict(headers))
    out["grpc_ready"] = client.is_server_ready(headers=dict(headers))
    out["grpc_model_ready"] = client.is_model_ready("detector", headers=dict(headers))
    out["grpc_server_metadata"] = client.get_server_metadata(headers=dict(headers), as_json=True)
    out["grpc_model_metadata"] = client.get_model_metadata("detector", headers=dict(headers), as_json=True)
    out["grpc_loss_metadata"] = client.get_model_metadata("focal_loss", headers=dict(headers), as_json=True)
    tensor = grpcclient.InferInput("images", list(images.shape), "FP32")
    tensor.set_data_from_numpy(images)
    result = client.infer("detector", [tensor], headers=dict(headers))
    out["grpc_detector"] = {
        n: result.as_numpy(n).tolist() for n in ("boxes", "scores", "labels", "num_detections")
    }
    a = grpcclient.InferInput("logits", list(logits.shape), "FP32")
    a.set_data_from_numpy(logits)
    b = grpcclient.InferInput("targets", list(targets.shape), "FP32")
    b.set_data_from_numpy(targets)
    # tritonclient's gRPC parameters are bool / int / str: numbers go as strings
    result = client.infer(
        "focal_loss", [a, b], parameters={"alpha": "0.25", "gamma": 2}, headers=dict(headers)
    )
    out["grpc_focal"] = result.as_numpy("loss").tolist()
    if _has_model(client, "real", headers):
        # the committed default detector (models/detector), copied into the test repository as "real"
        meta = client.get_model_metadata("real", headers=dict(headers), as_json=True)
        spec = meta["inputs"][0]
        shape = [2, *(int(d) for d in spec["shape"][1:])]
        tensor = grpcclient.InferInput(spec["name"], shape, "FP32")
        tensor.set_data_from_numpy(np.zeros(shape, np.float32))
        result = client.infer("real", [tensor], headers=dict(headers))
        out["grpc_real"] = {
            "metadata": meta,
            "shapes": {o["name"]: list(result.as_numpy(o["name"]).shape) for o in meta["outputs"]},
        }
    try:
        client.infer("no_such_model", [tensor], headers=dict(headers))
    except InferenceServerException as exc:
        out["grpc_unknown"] = [exc.status(), exc.message()]
    try:
        client.is_server_ready()
    except InferenceServerException as exc:
        out["grpc_no_key"] = exc.status()

    http = httpclient.InferenceServerClient(http_url.removeprefix("http://"))
    out["http_live"] = http.is_server_live(headers=dict(headers))
    out["http_ready"] = http.is_model_ready("focal_loss", headers=dict(headers))
    out["http_model_metadata"] = http.get_model_metadata("detector", headers=dict(headers))
    for binary in (True, False):
        tensor = httpclient.InferInput("images", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images, binary_data=binary)
        wanted = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("boxes", "num_detections")]
        result = http.infer("detector", [tensor], outputs=wanted, headers=dict(headers))
        out[f"http_detector_binary_{binary}"] = {
            n: result.as_numpy(n).tolist() for n in ("boxes", "num_detections")
        }
    a = httpclient.InferInput("logits", list(logits.shape), "FP32")
    a.set_data_from_numpy(logits, binary_data=True)
    b = httpclient.InferInput("targets", list(targets.shape), "FP32")
    b.set_data_from_numpy(targets, binary_data=False)
    result = http.infer(
        "focal_loss",
        [a, b],
        parameters={"alpha": 0.25, "gamma": 2.0},
        headers=dict(headers),
        request_compression_algorithm="gzip",
        response_compression_algorithm="deflate",
    )
    out["http_focal_gzip"] = result.as_numpy("loss").tolist()
    out.update(extensions(client, http, headers))
    return out


def extensions(
    client: grpcclient.InferenceServerClient, http: httpclient.InferenceServerClient, headers: dict[str, str]
) -> dict[str, object]:
    """The model configuration and statistics extensions on both clients, and a gRPC stream."""
    images, logits, targets = client_arrays()
    out: dict[str, object] = {}
    for name in ("detector", "focal_loss"):
        out[f"grpc_config_{name}"] = client.get_model_config(name, headers=dict(headers), as_json=True)
        out[f"http_config_{name}"] = http.get_model_config(name, headers=dict(headers))
    # statistics: what this process sends between two reads (the tests before it ran to their end)
    out["grpc_stats_before"] = client.get_inference_statistics(
        "detector", headers=dict(headers), as_json=True
    )
    for rows in (1, 2, 2):
        tensor = grpcclient.InferInput("images", [rows, *images.shape[1:]], "FP32")
        tensor.set_data_from_numpy(images[:rows])
        client.infer("detector", [tensor], headers=dict(headers))
    tensor = httpclient.InferInput("images", list(images.shape), "FP32")
    tensor.set_data_from_numpy(images, binary_data=True)
    http.infer("detector", [tensor], headers=dict(headers))
    out["grpc_stats_after"] = client.get_inference_statistics("detector", headers=dict(headers), as_json=True)
    out["http_stats_after"] = http.get_inference_statistics("detector", headers=dict(headers))
    out["http_stats_all"] = http.get_inference_statistics(headers=dict(headers))
    out["grpc_server_extensions"] = client.get_server_metadata(headers=dict(headers), as_json=True)[
        "extensions"
    ]
    # a stream of five focal_loss requests, the middle one bad (an input the model does not have)
    answers: list[dict[str, object]] = []

    def callback(result: object, error: InferenceServerException | None) -> None:
        if error is not None:
            answers.append({"error": error.message()})
        else:
            answers.append({"id": result.get_response().id, "loss": result.as_numpy("loss").tolist()})

    client.start_stream(callback=callback, headers=dict(headers))
    for i in range(5):
        a = grpcclient.InferInput("nope" if i == 2 else "logits", list(logits.shape), "FP32")
        a.set_data_from_numpy(logits)
        b = grpcclient.InferInput("targets", list(targets.shape), "FP32")
        b.set_data_from_numpy(targets)
        client.async_stream_infer("focal_loss", [a, b], request_id=str(i), parameters={"gamma": 2})
    client.stop_stream()  # waits for every answer
    out["grpc_stream"] = answers
    return out


def _has_model(client: grpcclient.InferenceServerClient, name: str, headers: dict[str, str]) -> bool:
    try:
        return bool(client.is_model_ready(name, headers=dict(headers)))
    except InferenceServerException:
        return False


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
