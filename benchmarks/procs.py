"""Starting the measured processes and watching their memory.

The service is started exactly as a user starts it: the ``opentacosvc``
console script, with a SQLite file in a temporary folder and
``--auth-disable``. Readiness is polled every few milliseconds with a raw
HTTP request so the poll itself costs next to nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def opentacosvc_command() -> list[str]:
    exe = shutil.which("opentacosvc", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "taco_http.main"]


def service_command(port: int, db: Path) -> list[str]:
    return [
        *opentacosvc_command(),
        "--port",
        str(port),
        "--storage",
        "sqlite",
        "--sqlite-db-path",
        str(db),
        "--auth-disable",
    ]


def bare_command(port: int, sqlite: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.bare", "--port", str(port)]
    return [*cmd, "--sqlite", str(sqlite)] if sqlite else cmd


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTACO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class Proc:
    """A server process: ``url``, ``pid``, the seconds it took to be ready."""

    def __init__(self, cmd: Sequence[str], port: int, log: Path, *, timeout: float = 30.0) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        started = time.perf_counter()
        with log.open("ab") as sink:
            self.popen = subprocess.Popen(
                list(cmd), cwd=log.parent, env=_env(), stdout=sink, stderr=sink
            )
        try:
            self.ready_seconds = self._wait_ready(started, timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _wait_ready(self, started: float, timeout: float) -> float:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.log.name}: exited with {self.popen.returncode}")
            if _ready(self.port):
                return time.perf_counter() - started
            time.sleep(0.005)
        raise RuntimeError(f"{self.log.name}: not ready within {timeout}s")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def __enter__(self) -> Proc:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_service(workdir: Path, db: Path, name: str = "opentacosvc") -> Proc:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Proc(service_command(port, db), port, workdir / f"{name}-{port}.log")


def start_bare(workdir: Path, sqlite: Path | None = None) -> Proc:
    """The bare app; with ``sqlite`` it keeps the bytes durably in that file."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Proc(bare_command(port, sqlite), port, workdir / f"bare-{port}.log")


def rss(pid: int) -> int:
    import psutil

    value: int = psutil.Process(pid).memory_info().rss
    return value


def high_water_mark(pid: int) -> int | None:
    """The kernel's peak RSS of ``pid`` (``VmHWM``), where /proc has it."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


class RssSampler:
    """Samples a process's RSS with psutil every ``interval`` seconds in a
    thread; ``peak`` is the largest sample."""

    def __init__(self, pid: int, interval: float = 0.002) -> None:
        import psutil

        self._proc = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._proc.memory_info().rss
        self.samples = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                value = self._proc.memory_info().rss
            except psutil.Error:
                return
            self.samples += 1
            self.peak = max(self.peak, value)
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None, rate: int = 250) -> Iterator[None]:
    """Record a py-spy profile of ``pid`` while the block runs (if ``out``)."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Non-blocking: py-spy reads the stacks without pausing the service, so
    # the profiled run's figures stay close to an unprofiled one's.
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--threads", "--nonblocking"]
    cmd += ["--format", "raw", "--output", str(out)]
    recorder = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let py-spy attach before the load starts
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
