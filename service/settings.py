"""Service configuration: one pydantic-settings class, read from ``FOCALSERVE_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DEFAULT_MODEL_REPOSITORY", "Settings"]

#: ``models/`` at the project root, found relative to this package (``service/../models``).
DEFAULT_MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "models"


Provider = Literal["auto", "cuda", "cpu"]


def _auto_providers() -> list[Provider]:
    return ["auto"]


class Settings(BaseSettings):
    """Everything the service can be told. Each field is also the env var ``FOCALSERVE_<FIELD>``.

    Lists (``api_keys``, ``execution_providers``) are comma-separated in the environment.
    """

    model_config = SettingsConfigDict(env_prefix="FOCALSERVE_", extra="ignore", frozen=True)

    model_repository: Path = Field(
        default=DEFAULT_MODEL_REPOSITORY, description="Triton-layout model repository."
    )
    model_control_mode: Literal["none", "poll", "explicit"] = Field(
        default="none",
        description="none: the repository is read once, at start; poll: re-read every repository_poll_secs, "
        "new and changed versions loaded (then swapped in), removed ones unloaded; explicit: only the "
        "load_models at start, then models loaded and unloaded by the model repository API.",
    )
    load_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="explicit mode: the models loaded at start ('*': all; none by default, as Triton).",
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="The model repository API (index, load, unload) needs header x-admin-key equal to one "
        "of these; without any it is refused.",
    )
    repository_poll_secs: float = Field(
        default=15.0, gt=0, description="poll mode: seconds between two reads of the repository."
    )
    host: str = Field(default="127.0.0.1", description="Interface for REST and gRPC.")
    http_port: int = Field(default=8000, ge=0, le=65535, description="REST port.")
    grpc_port: int = Field(default=8001, ge=0, le=65535, description="gRPC port.")

    max_batch_size: int = Field(
        default=16,
        ge=1,
        le=4096,
        description="Largest batch (images) one model run takes (capped by config.pbtxt's max_batch_size).",
    )
    max_queue_delay_ms: float = Field(
        default=0.0,
        ge=0,
        le=60_000,
        description="How long the oldest queued request waits for others to join.",
    )
    model_instances: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Batches of one model version that may run at once (Triton's count).",
    )
    queue_size: int = Field(
        default=256, ge=1, description="Requests that may wait per model version before 503."
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, description="A request not answered by then gets 504."
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="Largest request body (413 above)."
    )
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="Largest decoded image, width x height."
    )
    max_score_elements: int = Field(
        default=50_000_000, ge=1, description="Largest array the scoring API takes."
    )
    max_images_per_request: int = Field(
        default=64,
        ge=1,
        le=65_536,
        description="Most images one detect request may carry (every body form and gRPC), checked before "
        "any is decoded.",
    )
    max_request_pixels: int = Field(
        default=100_000_000,
        ge=1,
        description="Most decoded pixels (width x height, summed over its images) in one detect request.",
    )
    max_json_answer_elements: int = Field(
        default=2_000_000,
        ge=0,
        description="Most array elements a JSON answer may hold (per-sample values, gradients, v2 outputs); "
        "beyond, ask for application/x-npz or v2 binary data.",
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="A connection whose request headers are not all in by then is closed."
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Time a request body may take, plus its size at min_body_rate_bytes_s (408 after).",
    )
    min_body_rate_bytes_s: int = Field(
        default=64 * 1024, ge=1, description="The slowest body upload allowed past body_timeout_s."
    )
    idle_timeout_s: float = Field(
        default=20.0, gt=0, description="A keep-alive HTTP connection idle this long is closed."
    )
    max_connections: int = Field(
        default=1024, ge=1, description="Most HTTP connections and requests at once (503 beyond)."
    )
    grpc_keepalive_s: float = Field(
        default=60.0,
        gt=0,
        description="gRPC: ping an idle client this often, and drop it if it does not answer.",
    )
    grpc_max_connection_idle_s: float = Field(
        default=300.0, gt=0, description="gRPC: close a connection with no call for this long."
    )
    grpc_max_connection_age_s: float = Field(
        default=3600.0,
        gt=0,
        description="gRPC: ask a client to reconnect after this long (spreads load after scaling).",
    )

    execution_providers: Annotated[list[Provider], NoDecode] = Field(
        default_factory=_auto_providers,
        description="ONNX Runtime providers in order of preference; 'auto' = CUDA if it works, else CPU.",
    )
    intra_op_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=0, description="ONNX Runtime threads inside one op."
    )
    inter_op_threads: int = Field(
        default=1, ge=0, description="ONNX Runtime threads across ops (sequential mode)."
    )
    inline_preprocess_bytes: int = Field(
        default=32 * 1024,
        ge=0,
        description="Requests whose images total at most this many bytes are decoded on the event loop.",
    )
    preprocess_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Threads decoding and resizing images."
    )

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="If set, every non-health request needs header X-API-Key."
    )
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="After SIGTERM, time accepted requests may take."
    )
    grpc_max_message_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="gRPC message size limit."
    )
    malloc_keep_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description="glibc only: serve allocations up to this size from the heap and keep that much freed "
        "memory for reuse, so large bodies do not page-fault on every request (0: glibc's defaults).",
    )
    score_store: str = Field(
        default="sqlite:///data/score-sessions.sqlite3",
        description="Where scoring sessions live: sqlite:///PATH (WAL mode, a relative PATH is under the "
        "working directory; one host) or postgresql://user:pass@host:port/db (shared by replicas).",
    )
    score_session_ttl_s: float = Field(
        default=24 * 3600.0, gt=0, description="A scoring session untouched this long expires (is deleted)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of the service's loggers."
    )
    console_enabled: bool = Field(
        default=True,
        description="Serve the web console at / (static files, no key needed to load them; the API calls it "
        "makes carry the key). Off: / answers 404.",
    )

    @field_validator("load_models", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            keys = [part.strip() for part in value.split(",") if part.strip()]
            if value.strip() and not keys:
                # ",," or " , " would silently turn authentication off: say so instead
                raise ValueError(f"{value!r} holds no key; leave the setting unset to serve without keys")
            value = keys
        return value

    @field_validator("execution_providers", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [v.lower() if isinstance(v, str) else v for v in value]
        return value

    @property
    def max_queue_delay_s(self) -> float:
        """`max_queue_delay_ms` in seconds."""
        return self.max_queue_delay_ms / 1000.0
