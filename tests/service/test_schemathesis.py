"""Schemathesis against the real service: every operation of its ``/openapi.json``, every check and phase.

The service runs as ``python -m service`` (`tests.live.run_process`, port 0: the entry point and event loop
of production, and its own core) with an API key configured, so the document declares the ``ApiKey`` scheme
and the ``ignored_auth`` check probes the 401s. Schemathesis runs as another subprocess: ``schemathesis run
--checks all`` over the phases examples, coverage, fuzzing and stateful, with the real model names as path
parameters so that calls reach the handlers. The run is bounded by ``MAX_EXAMPLES`` per operation and a
fixed seed, and by ``TIME_LIMIT_S`` as a whole; ``FOCALSERVE_FUZZ_SEED`` and ``FOCALSERVE_FUZZ_EXAMPLES``
explore further.

This module is also the run's hooks module (``SCHEMATHESIS_HOOKS``): `errors_name_the_field` is a check of
this project's own, added to the built-in ones.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT, run_process

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")

API_KEY = "fuzz-key"
MAX_EXAMPLES = int(os.environ.get("FOCALSERVE_FUZZ_EXAMPLES", "200"))
SEED = os.environ.get("FOCALSERVE_FUZZ_SEED", "20261")
TIME_LIMIT_S = 240

#: Every status a schema-valid request may get on an operation by default (schemathesis's own list).
_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

# Per-operation settings. The one check loosened is positive_data_acceptance, on the operations whose bodies
# the schema cannot fully constrain, and only by 400: a schema-valid detect body may still carry bytes that
# are no image, a schema-valid score body arrays whose shapes disagree or parameters its loss does not take,
# a schema-valid v2 request tensors that do not fit the model's inputs (or a data count that does not match
# its shape). JSON Schema cannot say "decodes as a PNG" or "has the shape of that other member"; the server
# answers those 400 with a body naming the field (checked by `errors_name_the_field` below), never 422
# or a 5xx, which stay failures.
CONFIG = f"""
headers = {{ "X-API-Key" = "{API_KEY}" }}

[[operations]]
include-path-regex = "^/v1/models/\\\\{{name\\\\}}/"
parameters = {{ "name" = "standin", "version" = "1" }}
checks.positive_data_acceptance.expected-statuses = {[*_POSITIVE, "400"]!r}

[[operations]]
include-path = "/v1/score"
checks.positive_data_acceptance.expected-statuses = {[*_POSITIVE, "400"]!r}

[[operations]]
include-path-regex = "^/v1/score/sessions"
checks.positive_data_acceptance.expected-statuses = {[*_POSITIVE, "400"]!r}

[[operations]]
include-path-regex = "^/v2/models/\\\\{{name\\\\}}"
parameters = {{ "name" = "focal_loss", "version" = "1" }}

[[operations]]
include-path-regex = "/infer$"
checks.positive_data_acceptance.expected-statuses = {[*_POSITIVE, "400"]!r}
"""


@schemathesis.check
def errors_name_the_field(ctx: Any, response: Any, case: Any) -> bool | None:
    """A client error on a ``/v1`` body route is problem+json naming the field at fault."""
    if response.status_code not in (400, 413, 415, 422) or not case.path.startswith("/v1/"):
        return None
    if case.method.upper() != "POST":
        return None
    body = response.json()
    if not isinstance(body, dict) or not body.get("field"):
        raise AssertionError(f"a {response.status_code} answer names no field: {response.text[:500]}")
    return None


@pytest.mark.slow
@pytest.mark.timeout(TIME_LIMIT_S + 60)
def test_schemathesis_finds_nothing(standin_repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with run_process(
        standin_repo,
        tmp_path / "service.log",
        api_keys=API_KEY,
        max_queue_delay_ms="2",
        score_store=f"sqlite:///{tmp_path}/sessions.sqlite3",
    ) as live:
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{live.http_url}/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            SEED,
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            "--continue-on-failure",
            "--no-color",
        ]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": __name__, "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        # cwd: schemathesis keeps its cache (.schemathesis/) in the working directory
        run = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIME_LIMIT_S, check=False
        )
        took = time.monotonic() - started
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-30_000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", report)
    tested = re.search(r"Tested: (\d+)", report)
    assert selected and tested, report[-5000:]
    assert selected[1] == selected[2] == tested[1], report[-5000:]  # every operation, none skipped
    print(f"schemathesis: {took:.1f} s, seed {SEED}")
