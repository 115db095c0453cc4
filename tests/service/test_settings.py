"""Settings: defaults, environment variables, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import DEFAULT_MODEL_REPOSITORY, Settings


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.http_port, s.grpc_port) == ("127.0.0.1", 8000, 8001)
    assert s.model_repository == DEFAULT_MODEL_REPOSITORY == Path(__file__).resolve().parents[2] / "models"
    assert s.execution_providers == ["auto"] and s.api_keys == [] and s.inter_op_threads == 1
    assert s.max_queue_delay_s == s.max_queue_delay_ms / 1000


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOCALSERVE_MODEL_REPOSITORY", str(tmp_path))
    monkeypatch.setenv("FOCALSERVE_HTTP_PORT", "9000")
    monkeypatch.setenv("FOCALSERVE_API_KEYS", "key-one-8f3a, key-two-51c0")
    monkeypatch.setenv("FOCALSERVE_EXECUTION_PROVIDERS", "CUDA,cpu")
    monkeypatch.setenv("FOCALSERVE_MAX_BATCH_SIZE", "16")
    s = Settings()
    assert s.model_repository == tmp_path and s.http_port == 9000 and s.max_batch_size == 16
    assert [k.get_secret_value() for k in s.api_keys] == ["key-one-8f3a", "key-two-51c0"]
    assert "8f3a" not in repr(s) and "51c0" not in repr(s)  # secrets stay hidden
    assert s.execution_providers == ["cuda", "cpu"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("http_port", 70000),
        ("max_batch_size", 0),
        ("queue_size", 0),
        ("execution_providers", "tpu"),
        ("request_timeout_s", 0),
    ],
)
def test_invalid_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})
