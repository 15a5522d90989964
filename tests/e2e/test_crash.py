"""``kill -9`` of the service in the middle of a stream of writes: after a
restart on the same SQLite file the state is whole and no acknowledged write
is lost."""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Spawner

pytestmark = pytest.mark.e2e

UNIT = "crash/stream"
LINEAGE = "c7a5e000-0000-4000-8000-00000000dead"
# Per kill/restart cycle: acknowledged writes to wait for, then how far into
# the next write (as a fraction of the median write time) the SIGKILL lands, so
# that kills hit different phases of a request: parsing, commit, response.
# Far fewer writes than the retention limit set below: history keeps them all.
CYCLES = ((10, 0.0), (14, 0.3), (18, 0.6), (22, 0.9))
RETAIN_ALL = ["--max-versions", "1000"]
PADDING = "x" * 96 * 1024  # big enough that a kill often lands inside a commit


def state_bytes(serial: int) -> bytes:
    """The stream's state for ``serial``; identical bytes for an identical serial."""
    doc = {
        "version": 4,
        "terraform_version": "1.15.5",
        "serial": serial,
        "lineage": LINEAGE,
        "outputs": {
            "written": {"value": f"write-{serial}", "type": "string"},
            "padding": {"value": PADDING, "type": "string"},
        },
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode()


class Stream(threading.Thread):
    """POSTs serials ``first, first+1, ...`` in order until the server goes away."""

    def __init__(self, url: str, first: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}/v1/backend/{UNIT}"
        self.next = first
        self.acked: list[int] = []
        self.seconds: list[float] = []
        self.other: list[tuple[int, int, str]] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                serial = self.next
                started = time.perf_counter()
                try:
                    response = client.post(self.url, content=state_bytes(serial))
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    self.seconds.append(time.perf_counter() - started)
                    self.acked.append(serial)
                else:
                    self.other.append((serial, response.status_code, response.text))
                    return
                self.next += 1

    def wait_for(self, count: int) -> None:
        """Block until ``count`` writes are acknowledged."""
        deadline = time.monotonic() + 60
        while len(self.acked) < count:
            assert self.is_alive(), f"the write stream stopped early: {self.other}"
            assert time.monotonic() < deadline, f"{len(self.acked)} writes acknowledged in 60 s"
            time.sleep(0.0005)


def test_kill_9_mid_stream_keeps_a_whole_state_and_every_acknowledged_write(
    spawn: Spawner, tmp_path: Path
) -> None:
    """After each kill -9 the state is whole, serial >= last ack, and history holds every ack."""
    db = tmp_path / "data" / "taco.db"
    acked: list[int] = []
    first = 1
    for cycle, (kill_after, phase) in enumerate(CYCLES):
        server = spawn(f"svc{cycle}", db=db, args=RETAIN_ALL)
        stream = Stream(server.url, first)
        stream.start()
        stream.wait_for(kill_after)
        time.sleep(phase * statistics.median(stream.seconds))
        server.kill()
        stream.join(15)
        assert not stream.is_alive()
        assert stream.other == [], stream.other
        assert stream.acked == list(range(first, first + len(stream.acked)))
        acked += stream.acked

        restarted = spawn(f"svc{cycle}-restarted", db=db, args=RETAIN_ALL)
        current = httpx.get(f"{restarted.url}/v1/backend/{UNIT}")
        assert current.status_code == 200, current.text
        serial = json.loads(current.content)["serial"]
        assert serial >= acked[-1]
        # Whole, and exactly the bytes some client sent: never a torn or mixed write.
        assert current.content == state_bytes(serial)

        listing = httpx.get(f"{restarted.url}/v1/units/{UNIT}/versions").json()
        stored = [v["serial"] for v in listing["versions"] if not v["quarantined"]]
        missing = sorted(set(acked) - set(stored))
        assert missing == [], f"acknowledged writes lost: {missing}"
        assert sorted(stored) == list(range(1, serial + 1))
        restarted.stop()
        # The next stream resumes after the newest stored serial (acked or not).
        first = serial + 1

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
