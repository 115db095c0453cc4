"""A real browser for the console's tests: Debian's chromium (``.ci/run`` installs it) driven by Playwright.

Playwright's own browser download is never used: the browser is the system's (`CHROMIUM`). Without it the
browser tests are skipped, except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("FOCALSERVE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where screenshots go: $FOCALSERVE_SCREENSHOTS (``docs`` refreshes the README's), else a temporary folder.
SCREENSHOTS_ENV = "FOCALSERVE_SCREENSHOTS"


def _require_browser() -> None:
    if Path(CHROMIUM).is_file():
        return
    if os.environ.get("CI"):
        pytest.fail(f"no chromium at {CHROMIUM}: .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")  # closed with its module: no Playwright loop left behind for other tests
def browser() -> Iterator[Any]:
    _require_browser()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Page:
    """A page in a fresh browser context, with every console error and uncaught exception it met."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def no_errors(self, allowed: tuple[str, ...] = ()) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in allowed)]
        assert not unexpected, unexpected


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    found = Page(context.new_page())
    found.page.on("console", lambda m: m.type == "error" and found.errors.append(f"console: {m.text}"))
    found.page.on("pageerror", lambda e: found.errors.append(f"pageerror: {e}"))
    found.page.on("request", lambda r: found.requests.append(f"{r.method} {r.url}"))
    found.page.set_default_timeout(15_000)
    try:
        yield found
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get(SCREENSHOTS_ENV)
    if target:
        path = Path(target)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("console-screenshots")
