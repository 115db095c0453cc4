"""A real PostgreSQL for the tests: Debian's server binaries, a cluster made in a temporary directory.

`running_postgres` runs ``initdb`` into a fresh directory, then ``pg_ctl start`` listening on 127.0.0.1 at a
free port (PostgreSQL cannot bind port 0 and report it, so the port is one the kernel just gave a socket of
ours) with its unix socket in the same directory, and yields the server's URL; at the end ``pg_ctl stop``.
PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` user (which the Debian
package creates) and every server command runs through ``runuser``. `.ci/run` installs the package.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "focal"


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """A PostgreSQL server for this test run; yields ``postgresql://focal@127.0.0.1:PORT/postgres``."""
    bindir = _bindir()
    if bindir is None:
        message = "PostgreSQL's server binaries are not installed (apt-get install postgresql; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="focalserve-pg-"))
    data = base / "data"
    if as_root:
        shutil.chown(base, "postgres", "postgres")

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        for attempt in range(5):
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections=200"
            try:
                pg_ctl = str(bindir / "pg_ctl")
                run(pg_ctl, "-D", str(data), "-l", str(base / "log"), "-o", options, "-w", "start")
                break
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise RuntimeError((base / "log").read_text(errors="replace")) from None
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def new_database(server_url: str) -> str:
    """A fresh, empty database on the server at ``server_url``; its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name
