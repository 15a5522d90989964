"""Real ``opentacosvc`` processes for tests that cross a process boundary.

The service is started exactly as a user starts it (the console script, its
flags and environment), on a free loopback port, and stopped with SIGTERM
(or SIGKILL where a test says so).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

_STARTS = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def opentacosvc_command() -> list[str]:
    exe = shutil.which("opentacosvc", path=str(Path(sys.executable).parent))
    if exe is None:
        return [sys.executable, "-m", "taco_http.main"]
    return [exe]


class Server:
    """A running service: ``url``, ``port``, its process and log file.
    Over TLS (``ca`` set), ``url`` is ``https://localhost:<port>``, the name
    the test certificate holds."""

    def __init__(
        self, proc: subprocess.Popen[bytes], port: int, log: Path, ca: Path | None = None
    ) -> None:
        self.proc = proc
        self.port = port
        self.ca = ca
        self.url = f"https://localhost:{port}" if ca else f"http://127.0.0.1:{port}"
        self.log = log

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the crash case; nothing gets to clean up."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 20.0,
    ca: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"opentacosvc exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1, verify=verify).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"opentacosvc did not become ready in {timeout}s:\n{log.read_text()}")


def start_server(
    workdir: Path,
    *,
    args: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    auth_disable: bool = True,
    ca: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Server:
    """Start ``opentacosvc`` in ``workdir`` (its default ``data/taco.db`` lands
    there) and wait until ``/readyz`` answers. Authentication is disabled
    unless ``auth_disable=False`` (the service's own default is on). With
    ``ca``, the server serves TLS (``args`` name its certificate) and is
    checked against that CA; ``preexec_fn`` runs in the child before the
    service (resource limits)."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    # One log per start: a restart may get the same port, and its log must
    # not begin with the previous run's lines.
    log = workdir / f"opentacosvc-{port}-{next(_STARTS)}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTACO_")}
    if auth_disable:
        full_env["OPENTACO_AUTH_DISABLE"] = "true"
    full_env.update(env or {})
    cmd = [*opentacosvc_command(), "--port", str(port), *(args or [])]
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=full_env, stdout=sink, stderr=sink, preexec_fn=preexec_fn
        )
    server = Server(proc, port, log, ca)
    try:
        wait_ready(server.url, proc, log, ca=ca)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_server(workdir: Path, **kwargs: object) -> Iterator[Server]:
    server = start_server(workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
