"""A TCP endpoint that can stop answering: the hung S3 of the tests.

``TcpProxy`` forwards connections to an upstream (a real SeaweedFS) until
``hang()``; from then on it accepts every connection, and every byte sent on
a connection already open, and never answers: what a wedged load balancer
or an overloaded S3 looks like to a client. Without an upstream it hangs
from the start.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class TcpProxy:
    """A loopback listener at ``url``, forwarding to ``upstream`` (host, port)
    until ``hang()`` is called, or hanging from the start without one."""

    def __init__(self, upstream: tuple[str, int] | None = None) -> None:
        self._upstream = upstream
        self._hung = threading.Event()
        if upstream is None:
            self._hung.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def hang(self) -> None:
        """From now on, accept and read but never answer, on every connection."""
        self._hung.set()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.append(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            if self._hung.is_set():
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            assert self._upstream is not None
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            self._keep(server)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _swallow(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                if self._hung.is_set():
                    # Swallow what is sent from now on; answer nothing more.
                    self._swallow(source)
                    return
                sink.sendall(data)


@contextlib.contextmanager
def tcp_proxy(upstream: tuple[str, int] | None = None) -> Iterator[TcpProxy]:
    proxy = TcpProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()
