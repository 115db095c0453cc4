"""API keys: the one check both edges make (the REST header ``X-API-Key``, gRPC metadata ``x-api-key``)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pydantic import SecretStr

from ..errors import Unauthenticated

__all__ = ["ApiKeys"]


class ApiKeys:
    """The configured keys; with none, every call is let through."""

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        self._keys = [k.get_secret_value().encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def accepts(self, given: str | bytes | None) -> bool:
        """Whether ``given`` is one of the keys: every key is compared, in constant time, so the time taken
        says nothing about which key is close."""
        if not self._keys:
            return True
        if given is None:
            return False
        raw = given.encode() if isinstance(given, str) else given
        return any([hmac.compare_digest(raw, key) for key in self._keys])

    def check(self, given: str | bytes | None) -> None:
        """Raise `Unauthenticated` unless `accepts`."""
        if not self.accepts(given):
            raise Unauthenticated(
                "missing or wrong API key: send header X-API-Key (REST) or metadata x-api-key (gRPC)",
                field="X-API-Key",
            )
