"""The dependency graph over HTTP: /v1/units/{id}/status, /v1/status, /v1/graph,
with the graph kept up to date by the app's own background task."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.testclient import TestClient

from taco_core.access import ReadAccess
from taco_core.auth import Principal
from taco_core.errors import PermissionDenied
from taco_core.graph import read_graph
from taco_http.context import STATE_KEY
from taco_http.wiring import Services
from tests.unit.graph_states import edge_resource, encode, graph_state

T = TypeVar("T")


class Units:
    """Writes states through the backend, as Terraform does."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.serials: dict[str, int] = {}

    def write(self, unit: str, **outputs: Any) -> None:
        serial = self.serials[unit] = self.serials.get(unit, 0) + 1
        doc = {
            "version": 4,
            "serial": serial,
            "lineage": f"L-{unit}",
            "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
            "resources": [],
        }
        r = self.client.post(f"/v1/backend/{unit}", content=json.dumps(doc))
        assert r.status_code == 200, r.text

    def edges(self, *links: tuple[str, str, str]) -> None:
        resources = [edge_resource(f"e{n}", *link) for n, link in enumerate(links)]
        body = encode(graph_state(*resources, serial=1))
        r = self.client.post("/v1/backend/__opentaco_system", content=body)
        assert r.status_code == 200, r.text


def services(client: TestClient) -> Services:
    found = client.app_state[STATE_KEY]
    assert isinstance(found, Services)
    return found


def settle(client: TestClient) -> None:
    """Let the graph service apply everything queued (as its worker would)."""
    client.portal.call(services(client).graph.flush)  # type: ignore[union-attr]


def chain(client: TestClient) -> Units:
    units = Units(client)
    for unit in ("app/a", "app/b", "app/c"):
        units.write(unit, out=f"{unit}-1")
    units.edges(("app/a", "out", "app/b"), ("app/b", "out", "app/c"))
    return units


def test_status_right_after_a_write(client: TestClient) -> None:
    """A write, then at once a status read: b is red (the reference's payload)
    and c yellow, before or after the graph is committed."""
    units = chain(client)
    assert client.get("/v1/units/app/b/status").json()["status"] == "green"
    units.write("app/a", out="changed")
    b = client.get("/v1/units/app/b/status").json()
    assert b["status"] == "red"
    assert set(b) == {"unit_id", "status", "incoming", "summary", "offender"}
    assert b["unit_id"] == "app/b"
    assert b["summary"] == {"incoming_ok": 0, "incoming_pending": 1, "incoming_unknown": 0}
    assert b["offender"] == "app/a"
    [edge] = b["incoming"]
    assert edge["from_unit_id"] == "app/a"
    assert edge["status"] == "pending"
    assert set(edge) == {
        "edge_id", "from_unit_id", "from_output", "status",
        "in_digest", "out_digest", "last_in_at", "last_out_at",
    }  # fmt: skip
    c = client.get("/v1/units/app__c/status").json()
    assert (c["status"], c["offender"]) == ("yellow", "app/b")
    settle(client)
    assert client.get("/v1/units/app%2Fb/status").json()["status"] == "red"
    graph = client.get("/v1/backend/__opentaco_system").content
    parsed = read_graph(graph)
    assert parsed is not None
    assert [e.status for e in parsed.edges] == ["pending", "ok"]


def test_many_statuses_by_prefix(client: TestClient) -> None:
    """GET /v1/status lists every unit the graph names, by ID; ?prefix= narrows it."""
    units = chain(client)
    units.write("app/a", out="changed")
    every = client.get("/v1/status").json()
    assert every["count"] == 3
    assert [(u["unit_id"], u["status"]) for u in every["units"]] == [
        ("app/a", "green"),
        ("app/b", "red"),
        ("app/c", "yellow"),
    ]
    narrowed = client.get("/v1/status", params={"prefix": "app/c"}).json()
    assert [u["unit_id"] for u in narrowed["units"]] == ["app/c"]


def test_the_whole_graph_and_one_units_edges(client: TestClient) -> None:
    """GET /v1/graph: units with colours and summaries, every edge with all
    its attributes; ?unit= only that unit's edges."""
    units = chain(client)
    units.write("app/b", out="changed")
    graph = client.get("/v1/graph").json()
    assert [(u["unit_id"], u["status"]) for u in graph["units"]] == [
        ("app/a", "green"),
        ("app/b", "green"),
        ("app/c", "red"),
    ]
    assert [(e["from_unit_id"], e["to_unit_id"], e["status"]) for e in graph["edges"]] == [
        ("app/a", "app/b", "ok"),
        ("app/b", "app/c", "pending"),
    ]
    assert set(graph["edges"][0]) >= {"edge_id", "to_input", "in_digest", "last_out_at"}
    near = client.get("/v1/graph", params={"unit": "app/a"}).json()
    assert [u["unit_id"] for u in near["units"]] == ["app/a", "app/b"]
    assert len(near["edges"]) == 1


def test_unknown_units_and_bad_ids(client: TestClient) -> None:
    """A unit nobody knows is 404; a malformed ID is 400; a unit whose last
    segment is 'status' is still reachable with %2F."""
    chain(client)
    assert client.get("/v1/units/nope/status").status_code == 404
    assert client.get("/v1/graph", params={"unit": "a//b"}).status_code == 400
    client.post("/v1/units", json={"id": "app/status"})
    assert client.get("/v1/units/app%2Fstatus").json()["id"] == "app/status"
    assert client.get("/v1/units/app%2Fstatus/status").json()["status"] == "green"


def test_without_a_graph_everything_is_green(client: TestClient) -> None:
    """No graph unit: a unit's status is green with incoming null (the reference's
    missing-graph answer); the listing is empty."""
    Units(client).write("app/a", out="1")
    assert client.get("/v1/units/app/a/status").json() == {
        "unit_id": "app/a",
        "status": "green",
        "incoming": None,
        "summary": {"incoming_ok": 0, "incoming_pending": 0, "incoming_unknown": 0},
        "offender": None,
    }
    assert client.get("/v1/status").json() == {"units": [], "count": 0}


class OnlyUnits:
    def __init__(self, readable: set[str]) -> None:
        self.readable = readable

    async def check(self, principal: Principal, action: str, resource: str) -> object:
        if resource not in self.readable:
            raise PermissionDenied(action, resource, "test")
        return None

    async def filter(
        self, principal: Principal, action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        return [i for i in items if key(i) in self.readable]

    async def read_access(self, principal: Principal, unit_id: str) -> ReadAccess:
        await self.check(principal, action="unit.read", resource=unit_id)
        return ReadAccess.FULL


def test_views_go_through_access_control(client: TestClient) -> None:
    """With access limited to b and c: a's status is 403, listings leave a out."""
    units = chain(client)
    units.write("app/a", out="changed")
    services(client).states.access = OnlyUnits({"app/b", "app/c"})
    assert client.get("/v1/units/app/a/status").status_code == 403
    b = client.get("/v1/units/app/b/status").json()
    assert (b["status"], b["incoming"], b["offender"]) == ("red", [], None)
    listed = client.get("/v1/status").json()
    assert [u["unit_id"] for u in listed["units"]] == ["app/b", "app/c"]
    assert [u["unit_id"] for u in client.get("/v1/graph").json()["units"]] == ["app/b", "app/c"]
