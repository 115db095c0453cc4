"""``JSONBody`` writes the same JSON document as the stdlib encoder, numpy values included, always valid."""

from __future__ import annotations

import json

import numpy as np

from service.rest.responses import JSONBody


def test_body_is_the_document_with_numpy_values_as_numbers():
    doc = {"boxes": np.array([[1.5, 2.0], [3.25, 4.0]], dtype=np.float32), "n": np.int64(2), "label": "é"}
    response = JSONBody(doc, status_code=200)
    assert response.media_type == "application/json"
    assert response.headers["content-length"] == str(len(response.body))
    assert json.loads(response.body) == {"boxes": [[1.5, 2.0], [3.25, 4.0]], "n": 2, "label": "é"}


def test_non_finite_floats_become_null_not_an_invalid_token():
    body = JSONBody({"value": float("nan"), "big": float("inf")}).body
    assert b"NaN" not in body and b"Infinity" not in body  # tokens the stdlib encoder writes, not JSON
    assert json.loads(body) == {"value": None, "big": None}
