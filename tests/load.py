"""Clients that keep a real service busy while a test changes something under it (a model swap, a rollout).

`DetectClients` threads post one PNG to a detect URL in a loop and keep ``(status, model_version)`` of
every answer; `until` waits for a condition; `served_versions` reads a model's version states off
``/v1/models``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from tests.live import LiveService
from tests.service.images import encode, red_box_image

__all__ = ["DetectClients", "served_versions", "until"]


def until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Wait until ``condition()`` holds; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def served_versions(service: LiveService, model: str) -> dict[str, str]:
    """``{version: state}`` of ``model`` as ``/v1/models`` lists it (empty when it is not listed)."""
    models = {m["name"]: m for m in service.client.get("/v1/models").json()["models"]}
    return {v["version"]: v["state"] for v in models[model]["versions"]} if model in models else {}


class DetectClients:
    """``clients`` threads sending detect requests to ``url`` until the block ends."""

    def __init__(self, url: str, clients: int = 8) -> None:
        self.url, self.stop = url, threading.Event()
        self.answers: list[tuple[int, str]] = []
        self.threads = [threading.Thread(target=self._send) for _ in range(clients)]

    def _send(self) -> None:
        png = encode(red_box_image())
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                r = client.post(self.url, content=png, headers={"content-type": "image/png"})
                self.answers.append((r.status_code, r.json().get("model_version", r.text)))

    def more(self, count: int = 20, timeout_s: float = 30.0) -> None:
        """Wait for ``count`` more answers."""
        seen = len(self.answers)
        until(lambda: len(self.answers) >= seen + count, "the clients stopped getting answers", timeout_s)

    def __enter__(self) -> DetectClients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)
