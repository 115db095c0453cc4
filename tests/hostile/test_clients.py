"""Slow, idle and greedy clients are timed out and capped (hardening item 6)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from service import Settings
from service.grpc.server import server_options
from tests.live import LiveService, run_in_thread

from .conftest import read_until_closed


def test_a_connection_that_sends_nothing_is_closed(server: LiveService, raw_connection) -> None:
    sock = raw_connection(server)
    data, closed_after = read_until_closed(sock, timeout_s=5)
    assert closed_after < 2.0, "an idle new connection was kept open"
    assert data.startswith(b"HTTP/1.1 408")


def test_headers_sent_a_byte_at_a_time_are_cut_off(server: LiveService, raw_connection) -> None:
    sock = raw_connection(server)
    started = time.monotonic()
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: slow\r\n\r\n"
    closed = False
    for byte in request:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.1)
        if time.monotonic() - started > 3:
            break
    data, _ = read_until_closed(sock, timeout_s=2)
    assert closed or data.startswith(b"HTTP/1.1 408"), data
    assert time.monotonic() - started < 3, "the slow headers were waited for"


def test_a_body_that_stops_coming_gets_408(server: LiveService, raw_connection) -> None:
    sock = raw_connection(server)
    head = (
        b"POST /v1/models/standin/detect HTTP/1.1\r\nHost: slow\r\nContent-Type: image/png\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    sock.sendall(head + b"\x89PNG" + b"\0" * 1000)
    data, closed_after = read_until_closed(sock, timeout_s=5)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"did not arrive in time" in data and b"connection: close" in data.lower()
    assert closed_after < 3.0


def test_an_idle_keep_alive_connection_is_closed(server: LiveService, raw_connection) -> None:
    sock = raw_connection(server)
    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: idle\r\n\r\n")
    data, closed_after = read_until_closed(sock, timeout_s=5)  # the answer, then the close
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b'{"live":true}')
    assert closed_after < 2.5, "the idle keep-alive connection was kept"


def test_connections_beyond_the_cap_are_answered_503(repo: Path) -> None:
    with run_in_thread(repo, max_connections=3, header_timeout_s=5) as service:
        held = [socket.create_connection(("127.0.0.1", service.http_port)) for _ in range(3)]
        try:
            time.sleep(0.1)
            with socket.create_connection(("127.0.0.1", service.http_port), timeout=5) as extra:
                extra.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: cap\r\n\r\n")
                answer = extra.recv(65536)
        finally:
            for sock in held:
                sock.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
        time.sleep(0.2)
        assert service.client.get("/v2/health/live").status_code == 200  # served again below the cap


def test_grpc_connections_have_keepalive_idle_and_age_limits() -> None:
    settings = Settings(
        grpc_keepalive_s=7, grpc_max_connection_idle_s=30, grpc_max_connection_age_s=600, header_timeout_s=2
    )
    options = dict(server_options(settings))
    assert options["grpc.keepalive_time_ms"] == 7000
    assert options["grpc.keepalive_timeout_ms"] == 7000  # never longer than the ping period
    assert options["grpc.max_connection_idle_ms"] == 30_000
    assert options["grpc.max_connection_age_ms"] == 600_000
    assert options["grpc.server_handshake_timeout_ms"] == 2000
    assert options["grpc.max_connection_age_grace_ms"] == round(settings.shutdown_grace_s * 1000)
