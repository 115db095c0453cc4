"""How long a request may still take: the one clamp both edges apply."""

from __future__ import annotations

__all__ = ["MIN_TIMEOUT_S", "remaining_timeout"]

#: The shortest timeout handed on: a deadline already past times out at once instead of waiting forever.
MIN_TIMEOUT_S = 0.001


def remaining_timeout(
    limit_s: float, *, client_remaining_s: float | None = None, elapsed_s: float = 0.0
) -> float:
    """The service's request timeout ``limit_s``, shortened by the client's own deadline (gRPC
    ``time_remaining``) and by the time already spent on the request; never below `MIN_TIMEOUT_S`."""
    budget = limit_s if client_remaining_s is None else min(limit_s, client_remaining_s)
    return max(MIN_TIMEOUT_S, budget - elapsed_s)
