"""The console's files over HTTP (`service.rest.routers.console`): served with their headers, public under API
keys, absent when the setting turns the console off, and shipped as package data."""

from __future__ import annotations

import glob
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.console import STATIC_DIR
from service.rest.routers.console import CONTENT_SECURITY_POLICY
from tests.live import ROOT, LiveService, run_in_thread
from tests.service.standin import write_repository

KEY = "console-key-5d1e"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_repository(tmp_path_factory.mktemp("console-repo"))


@pytest.fixture(scope="module")
def keyed(repo: Path) -> Iterator[LiveService]:
    with run_in_thread(repo, api_keys=[KEY]) as service:
        yield service


def test_the_page_and_its_files_are_served_with_a_content_security_policy(keyed: LiveService) -> None:
    page = keyed.client.get("/")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "connect-src 'self'" in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.text == (STATIC_DIR / "index.html").read_text()
    for name, kind in [
        ("js/app.js", "text/javascript"),
        ("console.css", "text/css"),
        ("vendor/uplot/uPlot.esm.js", "text/javascript"),
    ]:
        r = keyed.client.get(f"/console/{name}")
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"].startswith(kind), name
        assert r.content == (STATIC_DIR / name).read_bytes()
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_every_file_the_page_names_is_there(keyed: LiveService) -> None:
    """Scripts import each other by relative path: each import resolves to a served file."""
    import re

    for script in sorted((STATIC_DIR / "js").glob("*.js")):
        for target in re.findall(r'from "(\.\.?/[^"]+)"', script.read_text()):
            path = (script.parent / target).resolve().relative_to(STATIC_DIR).as_posix()
            assert keyed.client.get(f"/console/{path}").status_code == 200, (script.name, target)


def test_an_unchanged_file_is_answered_304(keyed: LiveService) -> None:
    first = keyed.client.get("/console/js/api.js")
    etag = first.headers["etag"]
    again = keyed.client.get("/console/js/api.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert first.headers["cache-control"] == "no-cache"


def test_the_console_is_public_but_the_api_it_calls_is_not(keyed: LiveService) -> None:
    assert keyed.client.get("/").status_code == 200
    assert keyed.client.get("/console/js/app.js").status_code == 200
    refused = keyed.client.get("/v1/models")
    assert refused.status_code == 401 and refused.json()["field"] == "X-API-Key"
    assert keyed.client.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 200
    assert keyed.client.get("/console-not/x").status_code == 401  # only the console's own prefix is open


MISSING = ["/console/nope.js", "/console/%2e%2e/settings.py", "/console/", "/console/js"]


@pytest.mark.parametrize("path", MISSING)
def test_a_file_the_console_does_not_have_is_a_404_problem(keyed: LiveService, path: str) -> None:
    r = keyed.client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404


def test_a_post_to_the_page_is_405(keyed: LiveService) -> None:
    r = keyed.client.post("/", content=b"x")
    assert r.status_code == 405 and "GET" in r.headers["allow"]


def test_turned_off_the_console_is_not_there(repo: Path) -> None:
    with run_in_thread(repo, console_enabled=False) as service:
        for path in ("/", "/console/js/app.js"):
            r = service.client.get(path)
            assert r.status_code == 404, path
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["detail"] == f"no route GET {path}"
        assert service.client.get("/v1/models").status_code == 200


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import Settings

    assert Settings().console_enabled is True
    monkeypatch.setenv("FOCALSERVE_CONSOLE_ENABLED", "false")
    assert Settings().console_enabled is False


def test_the_package_data_patterns_ship_every_console_file() -> None:
    """A non-editable install carries what pyproject.toml's package-data globs match: all of static/."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["service.console"]
    package = STATIC_DIR.parent
    shipped = {
        p for pattern in patterns for p in glob.glob(pattern, root_dir=package) if (package / p).is_file()
    }
    present = {p.relative_to(package).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert present and shipped == present
    assert {"static/index.html", "static/vendor/uplot/LICENSE", "static/vendor/uplot/uPlot.esm.js"} <= present
