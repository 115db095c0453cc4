"""The fast paths' off switch: `switched_off(state)` clears ``state["enabled"]`` for a ``with`` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def switched_off(state: dict[str, Any]) -> Iterator[None]:
    previous = state["enabled"]
    state["enabled"] = False
    try:
        yield
    finally:
        state["enabled"] = previous
