"""The dependency graph over HTTP with authentication and RBAC on: the views
show each caller what the evaluator lets it read, the graph unit is written
only with permission, and every write path (backend, management upload,
restore, undelete) by a narrowly allowed token still updates the graph, which
the service rewrites as itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taco_core.graph import read_graph
from taco_http.settings import Settings
from tests.http.test_graph_api import settle
from tests.http.test_rbac_api import Api, basic, bearer, start
from tests.unit.graph_states import edge_resource, encode, graph_state

UNITS = ("dev/net", "dev/app", "prod/db", "prod/app")
LINKS = [
    ("prod/db", "out", "dev/app"),
    ("dev/net", "out", "dev/app"),
    ("dev/app", "out", "prod/app"),
]
WEBHOOK_URL = "http://127.0.0.1:9/hook-3f1c7c52"
WEBHOOK_SECRET = "webhook-secret-8a2e4a57"


def rule(effect: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"effect": effect, "actions": actions, "resources": resources}


class Platform(Api):
    """The app with a few units and their edges, written by the admin."""

    def __init__(self, api: Api) -> None:
        super().__init__(api.client, api.admin)
        self.serials: dict[str, int] = {}

    def state(self, unit: str, value: str) -> bytes:
        serial = self.serials[unit] = self.serials.get(unit, 0) + 1
        doc = {
            "version": 4,
            "serial": serial,
            "lineage": f"L-{unit}",
            "outputs": {
                "out": {"value": value, "type": "string"},
                "secret": {"value": "hunter2", "type": "string", "sensitive": True},
            },
            "resources": [],
        }
        return json.dumps(doc).encode()

    def write(self, unit: str, value: str, token: str | None = None) -> int:
        """A backend POST, as Terraform sends it (the token as the password)."""
        r = self.client.post(
            f"/v1/backend/{unit}",
            content=self.state(unit, value),
            headers=basic(token or self.admin),
        )
        return r.status_code

    def edges_body(self) -> bytes:
        resources = [edge_resource(f"e{n}", *link) for n, link in enumerate(LINKS)]
        return encode(graph_state(*resources, serial=1))

    def get(self, path: str, token: str, **params: str) -> Any:
        r = self.client.get(path, params=params, headers=bearer(token))
        return r.status_code, (r.json() if r.status_code == 200 else r.json()["error"])

    def settle(self) -> None:
        settle(self.client)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """prod/db changed after the edges were seeded: dev/app red, prod/app yellow."""
    token_file = tmp_path / "admin-token"
    settings = Settings(
        storage="memory",
        admin_token_path=token_file,
        webhook_urls=(WEBHOOK_URL,),
        webhook_secret=WEBHOOK_SECRET,
    )
    with start(settings) as client:
        p = Platform(Api(client, token_file.read_text().strip()))
        for unit in UNITS:
            assert p.write(unit, f"{unit}-1") == 200
        r = client.post(
            "/v1/backend/__opentaco_system", content=p.edges_body(), headers=basic(p.admin)
        )
        assert r.status_code == 200, r.text
        p.settle()
        assert p.write("prod/db", "prod/db-2") == 200
        p.settle()
        yield p


def test_a_dev_reader_sees_dev_only(platform: Platform) -> None:
    """unit.read on dev/*: /v1/status and /v1/graph list dev units only;
    dev/app is red because of prod/db, which is counted but not named; prod
    statuses and neighbourhoods are 403 naming the action."""
    platform.grant("dev-reader", "dev-read", [rule("allow", ["unit.read"], ["dev/*"])])
    token = platform.token("dev-reader")
    code, listed = platform.get("/v1/status", token)
    assert code == 200
    assert [(u["unit_id"], u["status"]) for u in listed["units"]] == [
        ("dev/app", "red"),
        ("dev/net", "green"),
    ]
    app = listed["units"][0]
    assert [e["from_unit_id"] for e in app["incoming"]] == ["dev/net"]
    assert "in_digest" in app["incoming"][0]
    assert app["summary"] == {"incoming_ok": 1, "incoming_pending": 1, "incoming_unknown": 0}
    assert app["offender"] is None
    code, graph = platform.get("/v1/graph", token)
    assert code == 200
    assert [u["unit_id"] for u in graph["units"]] == ["dev/app", "dev/net"]
    assert [(e["from_unit_id"], e["to_unit_id"]) for e in graph["edges"]] == [
        ("dev/net", "dev/app")
    ]
    for path, params in [
        ("/v1/units/prod/db/status", {}),
        ("/v1/graph", {"unit": "prod/app"}),
    ]:
        code, error = platform.get(path, token, **params)
        assert code == 403
        assert "unit.read_outputs" in error
    code, error = platform.get("/v1/units/dev/nope/status", token)
    assert code == 404


def test_an_outputs_only_reader_sees_statuses_without_digests(platform: Platform) -> None:
    """unit.read on dev/*, unit.read_outputs on prod/*: prod units are listed
    with their colours, and edges from prod come without their digests (a
    digest would let a guess at a sensitive output be checked)."""
    platform.grant(
        "consumer",
        "consume",
        [
            rule("allow", ["unit.read"], ["dev/*"]),
            rule("allow", ["unit.read_outputs"], ["prod/*"]),
        ],
    )
    token = platform.token("consumer")
    code, listed = platform.get("/v1/status", token)
    assert code == 200
    assert [(u["unit_id"], u["status"]) for u in listed["units"]] == [
        ("dev/app", "red"),
        ("dev/net", "green"),
        ("prod/app", "yellow"),
        ("prod/db", "green"),
    ]
    code, app = platform.get("/v1/units/dev/app/status", token)
    assert (code, app["offender"]) == (200, "prod/db")
    incoming = {e["from_unit_id"]: e for e in app["incoming"]}
    assert incoming["prod/db"]["status"] == "pending"
    assert "in_digest" not in incoming["prod/db"] and "out_digest" not in incoming["prod/db"]
    assert incoming["dev/net"]["in_digest"]
    code, graph = platform.get("/v1/graph", token)
    assert code == 200
    digests = {(e["from_unit_id"], e["to_unit_id"]): e["in_digest"] for e in graph["edges"]}
    assert digests[("prod/db", "dev/app")] == ""
    assert digests[("dev/app", "prod/app")] != ""
    _, admin_view = platform.get("/v1/units/dev/app/status", platform.admin)
    assert all(e["in_digest"] for e in admin_view["incoming"])


def test_a_caller_without_roles_sees_nothing(platform: Platform) -> None:
    """A token whose subject holds no role: empty listings, 403 on a status."""
    token = platform.token("nobody")
    assert platform.get("/v1/status", token) == (200, {"units": [], "count": 0})
    assert platform.get("/v1/graph", token) == (200, {"units": [], "edges": []})
    assert platform.get("/v1/units/dev/app/status", token)[0] == 403


def test_the_graph_unit_needs_write_permission(platform: Platform) -> None:
    """A CI token allowed everything on dev/* is refused on __opentaco_system
    (nothing changes); a graph editor allowed it there declares edges, which
    the service seeds."""
    platform.grant("ci-dev", "ci-dev", [rule("allow", ["*"], ["dev/*"])])
    ci = platform.token("ci-dev")
    before = platform.client.get("/v1/backend/__opentaco_system", headers=basic(platform.admin))
    r = platform.client.post("/v1/backend/__opentaco_system", content=b"{}", headers=basic(ci))
    assert r.status_code == 403
    after = platform.client.get("/v1/backend/__opentaco_system", headers=basic(platform.admin))
    assert after.content == before.content
    platform.grant(
        "graph-editor",
        "graph-edit",
        [rule("allow", ["unit.read", "unit.write", "unit.lock"], ["__opentaco_system"])],
    )
    editor = platform.token("graph-editor")
    doc = json.loads(after.content)
    doc["serial"] += 1
    doc["resources"].append(edge_resource("e9", "dev/net", "out", "prod/app"))
    r = platform.client.post(
        "/v1/backend/__opentaco_system", content=json.dumps(doc), headers=basic(editor)
    )
    assert r.status_code == 200, r.text
    platform.settle()
    graph = read_graph(
        platform.client.get("/v1/backend/__opentaco_system", headers=basic(platform.admin)).content
    )
    assert graph is not None
    [fresh] = [e for e in graph.edges if e.to_unit_id == "prod/app" and e.from_unit_id == "dev/net"]
    assert (fresh.status, bool(fresh.in_digest)) == ("ok", True)


def test_every_write_path_of_a_narrow_token_updates_the_graph(platform: Platform) -> None:
    """A token allowed dev/* only (no access to __opentaco_system) writes
    dev/net through the backend, the management upload, a restore and an
    undelete: after each, the status read at once follows, and the graph
    commits are the system's."""
    platform.grant("ci-dev", "ci-dev", [rule("allow", ["*"], ["dev/*"])])
    ci = platform.token("ci-dev")

    def edge(source: str, target: str) -> str:
        _, status = platform.get(f"/v1/units/{target}/status", platform.admin)
        [found] = [e for e in status["incoming"] if e["from_unit_id"] == source]
        return str(found["status"])

    assert edge("dev/net", "dev/app") == "ok"
    assert platform.write("dev/net", "net-2", ci) == 200
    assert edge("dev/net", "dev/app") == "pending"
    assert platform.write("dev/app", "app-2", ci) == 200  # dev/app applied again
    assert edge("dev/net", "dev/app") == "ok"
    upload = platform.state("dev/net", "net-3")
    r = platform.client.put("/v1/units/dev/net/upload", content=upload, headers=bearer(ci))
    assert r.status_code == 200, r.text
    assert edge("dev/net", "dev/app") == "pending"
    assert platform.write("dev/app", "app-3", ci) == 200
    assert edge("dev/net", "dev/app") == "ok"
    r = platform.client.post("/v1/units/dev/net/restore", json={"version": 1}, headers=bearer(ci))
    assert r.status_code == 200, r.text
    assert edge("dev/net", "dev/app") == "pending"
    platform.settle()
    # An edge declared while dev/net is deleted has nothing to be seeded
    # from; the undelete fills it in.
    assert platform.client.delete("/v1/units/dev/net", headers=bearer(ci)).status_code == 204
    links = [*LINKS, ("dev/net", "out", "prod/db")]
    resources = [edge_resource(f"e{n}", *link) for n, link in enumerate(links)]
    doc = json.loads(encode(graph_state(*resources, serial=1)))
    current = json.loads(
        platform.client.get("/v1/backend/__opentaco_system", headers=basic(platform.admin)).content
    )
    kept = {i["attributes"]["id"]: i for r in current["resources"] for i in r["instances"]}
    for resource in doc["resources"]:
        ident = resource["instances"][0]["attributes"]["id"]
        resource["instances"] = [kept.get(ident, resource["instances"][0])]
    doc["serial"] = current["serial"] + 1
    doc["lineage"] = current["lineage"]
    r = platform.client.post(
        "/v1/backend/__opentaco_system", content=json.dumps(doc), headers=basic(platform.admin)
    )
    assert r.status_code == 200, r.text
    platform.settle()
    assert edge("dev/net", "prod/db") == "unknown"
    r = platform.client.post("/v1/units/dev/net/undelete", headers=bearer(ci))
    assert r.status_code == 200, r.text
    assert edge("dev/net", "prod/db") == "pending"
    platform.settle()
    assert edge("dev/net", "prod/db") == "pending"
    versions = platform.client.get(
        "/v1/units/__opentaco_system/versions", headers=bearer(platform.admin)
    ).json()["versions"]
    assert {v["surface"] for v in versions} == {"system", "backend"}
    assert {v["author"] for v in versions if v["surface"] == "system"} == {"opentaco"}


def test_webhook_settings_are_not_exposed(platform: Platform) -> None:
    """Webhooks are configured only where the service starts: no answer to
    an admin or a reader carries the URL or the secret."""
    platform.grant("reader-1", "read-all", [rule("allow", ["unit.read"], ["*"])])
    reader = platform.token("reader-1")
    for token in (platform.admin, reader):
        for path in ("/v1/info", "/v1/auth/config", "/v1/rbac/me", "/v1/status", "/v1/graph"):
            body = platform.client.get(path, headers=bearer(token)).text
            assert WEBHOOK_URL not in body and WEBHOOK_SECRET not in body
