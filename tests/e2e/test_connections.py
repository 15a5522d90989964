"""A real ``opentacosvc`` against clients that misbehave on the socket:
silent, slow, oversized or too many. Each is dropped with a clear answer
in bounded time (and counted in the metrics), memory follows the bytes that
arrive, and the log gets at most a line, never a traceback."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Server, running_server

FAST = {"OPENTACO_READ_TIMEOUT": "1", "OPENTACO_IDLE_TIMEOUT": "1"}
PATIENCE = 15.0  # far above every timeout here: a hang fails instead of blocking


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[Server]:
    """A service that gives clients one second to send a request and to go on idling."""
    with running_server(tmp_path / "svc", env=FAST) as srv:
        yield srv


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def assert_no_traceback(server: Server) -> None:
    assert "Traceback" not in server.logs(), server.logs()[-3000:]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_silent_client_gets_408_and_is_closed(fast_server: Server) -> None:
    """A connection that never sends a byte is answered 408 and closed after the read timeout."""
    with connect(fast_server) as sock:
        started = time.monotonic()
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"request headers not received within 1s" in answer
    assert time.monotonic() - started < 5
    metrics = httpx.get(f"{fast_server.url}/metrics").text
    assert 'opentaco_connections_dropped_total{reason="header_timeout"} 1.0' in metrics
    assert_no_traceback(fast_server)


def test_half_sent_headers_are_dropped(fast_server: Server) -> None:
    """A client that stops in the middle of its headers (slowloris) gets 408 and is closed."""
    with connect(fast_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < 5


def test_a_stalled_body_is_dropped_without_a_traceback(fast_server: Server) -> None:
    """A body that stops arriving frees the connection; the service logs no traceback
    and stores nothing."""
    with connect(fast_server) as sock:
        sock.sendall(b"POST /v1/backend/stall HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        read_until_closed(sock)
    assert time.monotonic() - started < 5
    assert httpx.get(f"{fast_server.url}/v1/backend/stall").status_code == 404
    assert_no_traceback(fast_server)


def test_an_idle_keep_alive_connection_is_closed(fast_server: Server) -> None:
    """After a response, a kept-alive connection that sends nothing more is closed."""
    with connect(fast_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert time.monotonic() - started < 5


def test_oversized_headers_are_431(fast_server: Server) -> None:
    """Endless headers are refused with 431 once they pass 64 KiB."""
    with connect(fast_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(200):
                sock.sendall(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_declared_length_costs_no_memory(tmp_path: Path) -> None:
    """Four uploads declaring 200 MB each and sending a few bytes grow the service by
    megabytes, not the 800 MB they announced (memory follows the bytes received)."""
    with running_server(tmp_path / "svc", env={"OPENTACO_READ_TIMEOUT": "60"}) as server:
        for _ in range(3):
            httpx.post(f"{server.url}/v1/backend/warm", content=b'{"serial": 1}')
        before = rss_bytes(server.proc.pid)
        socks = [connect(server) for _ in range(4)]
        try:
            for i, sock in enumerate(socks):
                sock.sendall(
                    b"POST /v1/backend/mem%d HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 200000000\r\n\r\n"
                    % i
                    + b'{"serial": 1, "pad": "'
                    + b"x" * 1000
                )
            # A request answered after those four were sent: the service has read
            # their headers and its handlers are waiting for their bodies.
            assert httpx.get(f"{server.url}/healthz").status_code == 200
            grown = rss_bytes(server.proc.pid) - before
        finally:
            for sock in socks:
                sock.close()
        assert grown < 64 * 1024 * 1024, f"grew by {grown / 1e6:.0f} MB"
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert_no_traceback(server)


def test_connections_over_the_limit_get_503_at_once(tmp_path: Path) -> None:
    """Beyond OPENTACO_MAX_CONNECTIONS a new connection is answered 503 and closed
    at once; when the holders go, the service answers again."""
    env = {"OPENTACO_MAX_CONNECTIONS": "5", "OPENTACO_READ_TIMEOUT": "60"}
    with running_server(tmp_path / "svc", env=env) as server:
        holders = [connect(server) for _ in range(5)]
        try:
            # The fifth holder was accepted before this probe: a request on it proves it.
            holders[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert holders[-1].recv(12).startswith(b"HTTP/1.1 200")
            with connect(server) as extra:
                answer = read_until_closed(extra)
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            assert b"too many connections" in answer
        finally:
            for sock in holders:
                sock.close()
        deadline = time.monotonic() + PATIENCE
        while httpx.get(f"{server.url}/healthz").status_code != 200:
            assert time.monotonic() < deadline
        assert "connection limit reached" in server.logs()
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'opentaco_connections_dropped_total{reason="too_many"} 1.0' in metrics
        assert_no_traceback(server)


def _few_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_running_out_of_descriptors_logs_a_line_not_a_flood(tmp_path: Path) -> None:
    """With the open-file limit below the connection limit, 150 connections exhaust
    it: the log says so in a line or two (no traceback per accept), and the service
    answers again once they close."""
    with running_server(
        tmp_path / "svc", env={"OPENTACO_READ_TIMEOUT": "60"}, preexec_fn=_few_descriptors
    ) as server:
        socks = []
        try:
            for _ in range(150):
                socks.append(connect(server))
        finally:
            for sock in socks:
                sock.close()
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
        logs = server.logs()
        assert "open-file limit" in logs  # the start-up warning
        assert 1 <= logs.count("cannot accept connections") <= 3, logs[-2000:]
        assert_no_traceback(server)
