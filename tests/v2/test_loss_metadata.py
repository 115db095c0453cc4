"""The loss models' metadata says what they really take: each datatype it lists, in its shape, infers."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

import losses
from service.oip.loss_models import LOSS_MODELS


def _tensor(name: str, datatype: str, values: np.ndarray) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": list(values.shape), "data": values.ravel().tolist()}


def _cast(values: np.ndarray, datatype: str) -> np.ndarray:
    return values.astype(bool) if datatype == "BOOL" else values


@pytest.mark.parametrize("model", sorted(LOSS_MODELS))
def test_every_datatype_the_metadata_lists_is_accepted(http: httpx.Client, model: str) -> None:
    meta = http.get(f"/v2/models/{model}").json()
    first, *rest = meta["inputs"]
    assert first["datatype"] == "FP64"
    assert first["parameters"]["datatypes"].split(",") == ["FP16", "FP32", "FP64"]
    rng = np.random.default_rng(0)
    binary = first["shape"] == [-1]  # any shape; else [..., C]
    values = rng.uniform(0.05, 0.95, (4,) if binary else (4, 3))
    if "summing to 1" in first["parameters"]["shape"]:
        values /= values.sum(axis=-1, keepdims=True)
    # 0/1 labels of the logits' shape (binary), class indices of its shape without C (multiclass)
    labels = rng.integers(0, 2 if binary else 3, values.shape if binary else values.shape[:-1])
    for datatype in first["parameters"]["datatypes"].split(","):
        inputs = [_tensor(first["name"], datatype, values)]
        target_types = rest[0]["parameters"]["datatypes"].split(",") if rest else [None]
        for target_type in target_types:
            if target_type is not None:
                if not binary and not target_type.startswith(("INT", "UINT")):
                    continue  # float targets of a multiclass loss are distributions: the next test
                inputs[1:] = [_tensor("targets", target_type, _cast(labels, target_type))]
            response = http.post(f"/v2/models/{model}/infer", json={"inputs": inputs})
            assert response.status_code == 200, (datatype, target_type, response.text)


def test_a_binary_loss_takes_any_rank_as_its_metadata_says(http: httpx.Client) -> None:
    meta = http.get("/v2/models/focal_loss").json()
    assert [t["parameters"]["shape"] for t in meta["inputs"]] == [
        "any shape",
        "the shape of logits, 0/1 or soft",
    ]
    rng = np.random.default_rng(1)
    for shape in ((5,), (2, 3), (2, 2, 3)):
        logits = rng.normal(size=shape)
        targets = rng.integers(0, 2, shape)
        body = {
            "inputs": [
                {"name": "logits", "datatype": "FP64", "shape": list(shape), "data": logits.ravel().tolist()},
                {
                    "name": "targets",
                    "datatype": "INT64",
                    "shape": list(shape),
                    "data": targets.ravel().tolist(),
                },
            ]
        }
        response = http.post("/v2/models/focal_loss/infer", json=body)
        assert response.status_code == 200, response.text
        (loss,) = response.json()["outputs"][0]["data"]
        assert loss == pytest.approx(float(losses.focal_loss(logits, targets)), rel=1e-12)


def test_multiclass_targets_are_class_indices_or_distributions(http: httpx.Client) -> None:
    meta = http.get("/v2/models/cross_entropy").json()
    logits_spec, targets_spec = meta["inputs"]
    assert (logits_spec["shape"], targets_spec["datatype"], targets_spec["shape"]) == (
        [-1, -1],
        "INT64",
        [-1],
    )
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 3))
    indices = rng.integers(0, 3, 4)
    onehot = np.eye(3)[indices]
    answers = []
    for targets, datatype in ((indices, "INT64"), (onehot, "FP64")):
        body = {
            "inputs": [
                {"name": "logits", "datatype": "FP64", "shape": [4, 3], "data": logits.ravel().tolist()},
                {
                    "name": "targets",
                    "datatype": datatype,
                    "shape": list(targets.shape),
                    "data": targets.ravel().tolist(),
                },
            ]
        }
        response = http.post("/v2/models/cross_entropy/infer", json=body)
        assert response.status_code == 200, response.text
        answers.append(response.json()["outputs"][0]["data"][0])
    assert answers[0] == pytest.approx(answers[1], rel=1e-12)
    assert answers[0] == pytest.approx(float(losses.cross_entropy(logits, indices)), rel=1e-12)


def test_triton_parameters_are_the_protocols_and_others_still_refused(http: httpx.Client) -> None:
    tensors = [
        {"name": "logits", "datatype": "FP32", "shape": [2], "data": [0.5, -1.0]},
        {"name": "targets", "datatype": "FP32", "shape": [2], "data": [1, 0]},
    ]
    # perf_analyzer sends this one on every request; Triton keeps the triton_ prefix for itself
    body = {"inputs": tensors, "parameters": {"triton_enable_empty_final_response": True}}
    assert http.post("/v2/models/focal_loss/infer", json=body).status_code == 200
    body = {"inputs": tensors, "parameters": {"enable_empty_final_response": True}}
    response = http.post("/v2/models/focal_loss/infer", json=body)
    assert response.status_code == 400 and "enable_empty_final_response" in response.json()["error"]
