"""The HTTP/1.1 protocol under the REST edge: uvicorn's, with a deadline on request headers.

uvicorn times out idle keep-alive connections, but not a connection that never sends a request, nor one
that sends its headers a byte at a time (slowloris). `with_header_timeout` makes a protocol class whose
connections must complete each request's headers within ``header_timeout_s`` of the connection opening or
of the request's first byte; past it the connection is answered 408 and closed. Body uploads are timed by
the edge middleware (`service.rest.edge`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["with_header_timeout"]

log = logging.getLogger(__name__)

_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def with_header_timeout(header_timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with a header deadline of ``header_timeout_s`` seconds."""

    class HeaderTimedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                log.debug("closing a connection whose request headers took over %.1f s", header_timeout_s)
                self.transport.write(_TIMEOUT_ANSWER)
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimedProtocol
