"""Fixtures: stand-in model repositories and the real service (`tests.live.run_in_thread`, port 0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveService, run_in_thread
from tests.pg import new_database, running_postgres

from .standin import write_repository

#: The service under test, as the one harness (`tests.live`) starts it.
Live = LiveService
run_service = run_in_thread


@pytest.fixture(scope="session")
def standin_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with model ``standin`` versions 1 and 2 (64x64 input)."""
    return write_repository(tmp_path_factory.mktemp("repo"), versions=(1, 2))


@pytest.fixture(scope="session")
def failing_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose ``standin`` model fails every batch of 2+ rows."""
    return write_repository(tmp_path_factory.mktemp("failing"), failing=True)


@pytest.fixture(scope="module")
def live(standin_repo: Path) -> Iterator[Live]:
    """The service on the stand-in repository with default limits (module-wide)."""
    with run_service(standin_repo, max_queue_delay_ms=5) as service:
        yield service


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server (`tests.pg`), for the whole run."""
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh scoring-session store of each kind: an SQLite file, a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.sqlite3"
    return new_database(request.getfixturevalue("postgres_server"))
