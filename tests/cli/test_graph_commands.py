"""``taco unit status`` and ``taco dep ls`` against a server and embedded."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import anyio
import httpx

from taco_adapters.clock import SystemClock
from taco_adapters.sqlite import SqliteStateStore
from taco_cli.output import coloured_table, status_lines
from taco_core.caller import local_caller
from taco_core.graph import GRAPH_UNIT
from taco_core.graph_status import Colour, Summary, UnitStatus
from taco_core.service import StateService
from tests.cli.conftest import Taco
from tests.servers import Server
from tests.unit.graph_states import edge_resource, encode, graph_state

_serials = itertools.count(1)


def unit_state(**outputs: Any) -> bytes:
    doc = {
        "version": 4,
        "serial": next(_serials),
        "lineage": "cli-graph",
        "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
        "resources": [],
    }
    return json.dumps(doc).encode()


def graph_bytes(*links: tuple[str, str, str]) -> bytes:
    resources = [edge_resource(f"e{n}", *link) for n, link in enumerate(links)]
    return encode(graph_state(*resources, serial=next(_serials)))


def write_graph(server: Server, *links: tuple[str, str, str]) -> None:
    """Terraform writes the graph unit (the backend creates it on first use)."""
    reply = httpx.post(f"{server.url}/v1/backend/{GRAPH_UNIT}", content=graph_bytes(*links))
    assert reply.status_code == 200, reply.text


def chain(taco: Taco, server: Server, prefix: str) -> tuple[str, str, str]:
    a, b, c = f"{prefix}/a", f"{prefix}/b", f"{prefix}/c"
    for unit in (a, b, c):
        taco.ok("unit", "create", unit)
        taco.ok("unit", "push", unit, "-", stdin=unit_state(out="1"))
    write_graph(server, (a, "out", b), (b, "out", c))
    return a, b, c


def test_status_table_json_and_exit_code(taco: Taco, cli_server: Server) -> None:
    """The table (plain when piped), one unit, --json, and --exit-code 6 only
    when something is red or yellow."""
    a, b, _ = chain(taco, cli_server, "st")
    assert taco.ok("unit", "status", "--prefix", "st/", "--exit-code").out.splitlines() == [
        "UNIT  STATUS      PENDING  FIRST OFFENDER",
        "st/a  up to date  0        -",
        "st/b  up to date  0        -",
        "st/c  up to date  0        -",
        "",
        "Total: 3 units: 3 up to date",
    ]
    taco.ok("unit", "push", a, "-", stdin=unit_state(out="2"))
    table = taco("unit", "status", "--prefix", "st/", "--exit-code")
    assert table.code == 6, table
    assert "\x1b[" not in table.out
    assert table.out.splitlines() == [
        "UNIT  STATUS               PENDING  FIRST OFFENDER",
        "st/a  up to date           0        -",
        "st/b  needs re-apply       1        st/a:out",
        "st/c  might need re-apply  0        st/b",
        "",
        "Total: 3 units: 1 up to date, 1 needs re-apply, 1 might need re-apply",
    ]
    assert table.err == (
        "taco: 2 units are not up to date: st/b needs re-apply, st/c might need re-apply\n"
    )
    one = taco("--json", "unit", "status", b, "--exit-code")
    assert one.code == 6
    payload = one.json()
    assert (payload["unit_id"], payload["status"]) == (b, "red")
    assert payload["incoming"][0]["from_unit_id"] == a
    assert taco.ok("unit", "status", a, "--exit-code").out.startswith("UNIT")
    listed = taco.ok("unit", "status", "--prefix", "st/", "--json").json()
    assert [u["status"] for u in listed["units"]] == ["green", "red", "yellow"]
    assert taco("unit", "status", "st/missing").code == 4
    assert taco("unit", "status", a, "--prefix", "st/").code == 2


def test_dep_ls(taco: Taco, cli_server: Server) -> None:
    """dep ls lists edges with their status; --unit only a unit's edges."""
    a, b, c = chain(taco, cli_server, "dep")
    taco.ok("unit", "push", b, "-", stdin=unit_state(out="2"))
    lines = taco.ok("dep", "ls").out.splitlines()
    assert lines[0].split() == ["FROM", "OUTPUT", "TO", "INPUT", "STATUS", "CHANGED"]
    assert [line.split()[:5] for line in lines[1:3]] == [
        [a, "out", b, "out", "ok"],
        [b, "out", c, "out", "pending"],
    ]
    assert lines[-1] == "Total: 2 dependencies"
    near = taco.ok("dep", "ls", "--unit", a, "--json").json()
    assert near["count"] == 1
    assert (near["edges"][0]["from_unit_id"], near["edges"][0]["to_unit_id"]) == (a, b)


def test_status_on_a_terminal_is_coloured() -> None:
    """On a terminal each label is coloured, and the columns still line up."""
    statuses = [
        UnitStatus("x/a", Colour.GREEN, (), Summary()),
        UnitStatus("x/bb", Colour.RED, (), Summary(incoming_pending=1), "x/a"),
    ]
    plain = status_lines(statuses, colour=False, listing=False)
    coloured = status_lines(statuses, colour=True, listing=False)
    assert coloured[1] == plain[1].replace("up to date", "\x1b[32mup to date\x1b[0m")
    assert coloured[2] == plain[2].replace("needs re-apply", "\x1b[31mneeds re-apply\x1b[0m")
    assert coloured_table(["A", "B"], [(["1", "x"], None)], column=1, colour=True) == [
        "A  B",
        "1  x",
    ]


def test_embedded_writes_update_the_graph(tmp_path: Path) -> None:
    """taco --embedded: a push applies to the local graph before the command
    ends, and unit status reads it."""
    db = tmp_path / "taco.db"
    taco = Taco(tmp_path, None)
    for unit in ("e/a", "e/b"):
        taco.ok("--embedded", str(db), "unit", "create", unit)
        taco.ok("--embedded", str(db), "unit", "push", unit, "-", stdin=unit_state(out="1"))

    async def terraform_writes_the_graph() -> None:
        store = await SqliteStateStore.open(db)
        try:
            await StateService(store, SystemClock()).upload(
                local_caller("terraform"),
                GRAPH_UNIT,
                graph_bytes(("e/a", "out", "e/b")),
                create_missing=True,
            )
        finally:
            await store.aclose()

    anyio.run(terraform_writes_the_graph)
    assert taco.ok("--embedded", str(db), "unit", "status", "e/b", "--exit-code")
    taco.ok("--embedded", str(db), "unit", "push", "e/a", "-", stdin=unit_state(out="2"))
    assert taco("--embedded", str(db), "unit", "status", "e/b", "--exit-code").code == 6
    dump = taco.ok("--embedded", str(db), "unit", "pull", GRAPH_UNIT).stdout_bytes
    assert b'"status": "pending"' in dump
