"""Fused numpy fast paths (filled in below); each returns None when it does not apply."""

from __future__ import annotations

from typing import Any


def cross_entropy_fast(*args: Any) -> Any:
    return None


def focal_fast(*args: Any) -> Any:
    return None
