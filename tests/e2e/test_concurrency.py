"""Many clients at once, against one service process or two sharing one SQLite
file: the database, not a Python process, decides who holds a lock and which
write is current."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Spawner

pytestmark = pytest.mark.e2e

CLIENTS = 48
ROUNDS = 3
WRITERS = 40
LINEAGE = "5f1c0de4-0000-4000-8000-00000000c0c0"


def lock_info(n: int) -> dict[str, str]:
    """Terraform's LockInfo for contender ``n``; every field is distinct per contender."""
    return {
        "ID": f"contender-{n:02d}",
        "Operation": "OperationTypeApply",
        "Info": f"contender {n} of {CLIENTS}",
        "Who": f"user{n}@host{n}",
        "Version": "1.15.5",
        "Created": f"2026-01-01T00:00:{n:02d}.000000001Z",
        "Path": "",
    }


def state_bytes(serial: int) -> bytes:
    """A Terraform state of one lineage; its content is a function of ``serial``."""
    doc = {
        "version": 4,
        "terraform_version": "1.15.5",
        "serial": serial,
        "lineage": LINEAGE,
        "outputs": {"written": {"value": f"write-{serial}", "type": "string"}},
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode()


async def fire(requests: list[tuple[str, str, bytes]]) -> list[httpx.Response]:
    """Send every ``(method, url, body)`` concurrently, one connection each."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.request(
                    method, url, content=body, headers={"Content-Type": "application/json"}
                )
                for method, url, body in requests
            )
        )


def start_servers(spawn: Spawner, processes: int, db: Path) -> list[str]:
    # Room for every refused write in quarantine: the tests account for each one.
    args = ["--max-quarantined", str(WRITERS)]
    return [spawn(f"svc{i}", db=db, args=args).url for i in range(processes)]


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
async def test_concurrent_locks_have_exactly_one_winner(
    spawn: Spawner, tmp_path: Path, processes: int
) -> None:
    """48 concurrent LOCKs: one 200, 47 x 423 carrying the winner's LockInfo, per round."""
    urls = start_servers(spawn, processes, tmp_path / "shared" / "taco.db")
    for round_ in range(ROUNDS):
        unit = f"storm/round-{round_}"  # does not exist yet: the LOCKs race to create it too
        contenders = [lock_info(n) for n in range(CLIENTS)]
        responses = await fire(
            [
                ("LOCK", f"{urls[n % processes]}/v1/backend/{unit}", json.dumps(info).encode())
                for n, info in enumerate(contenders)
            ]
        )

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [423] * (CLIENTS - 1), statuses
        winner = next(
            info for info, r in zip(contenders, responses, strict=True) if r.status_code == 200
        )
        for response in responses:
            assert response.json() == winner, (winner, response.text)

        async with httpx.AsyncClient(timeout=30) as client:
            for url in urls:
                unit_doc = (await client.get(f"{url}/v1/units/{unit}")).json()
                assert unit_doc["locked"] is True
                assert unit_doc["lock"]["id"] == winner["ID"]
                assert unit_doc["lock"]["who"] == winner["Who"]

            backend = f"{urls[-1]}/v1/backend/{unit}"
            loser = next(info for info in contenders if info["ID"] != winner["ID"])
            refused = await client.request("UNLOCK", backend, json=loser)
            assert refused.status_code == 423
            assert refused.json() == winner
            released = await client.request("UNLOCK", backend, json=winner)
            assert released.status_code == 200
            assert (await client.get(f"{urls[0]}/v1/units/{unit}")).json()["locked"] is False


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
async def test_concurrent_writers_lose_no_acknowledged_write(
    spawn: Spawner, tmp_path: Path, processes: int
) -> None:
    """Concurrent POSTs of rising serials: every 200 is in history and the newest 200 is current."""
    urls = start_servers(spawn, processes, tmp_path / "shared" / "taco.db")
    unit = "race/writers"
    serials = list(range(1, WRITERS + 1))
    responses = await fire(
        [("POST", f"{urls[s % processes]}/v1/backend/{unit}", state_bytes(s)) for s in serials]
    )

    outcome = {s: r for s, r in zip(serials, responses, strict=True)}
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    acked = sorted(s for s, r in outcome.items() if r.status_code == 200)
    refused = sorted(s for s, r in outcome.items() if r.status_code == 409)
    assert acked, "no write was acknowledged"
    # The clobber guard refuses only a serial at or below one already stored.
    assert all(s < acked[-1] for s in refused), (acked, refused)

    async with httpx.AsyncClient(timeout=30) as client:
        listing = (await client.get(f"{urls[0]}/v1/units/{unit}/versions")).json()
        current = await client.get(f"{urls[-1]}/v1/backend/{unit}")
    assert listing["total"] == len(listing["versions"]), "history did not fit one page"
    history = sorted(listing["versions"], key=lambda v: v["number"])
    accepted = [v["serial"] for v in history if not v["quarantined"]]
    assert accepted == acked, "history does not hold exactly the acknowledged writes, in order"
    for serial in refused:
        body: dict[str, Any] = outcome[serial].json()
        kept = next(v for v in history if v["number"] == body["quarantined_version"])
        assert kept["quarantined"] is True
        assert kept["serial"] == serial

    assert current.status_code == 200
    assert current.content == state_bytes(acked[-1])
