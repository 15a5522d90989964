"""The audit trail over HTTP: what the service records (unit changes,
tokens, RBAC edits, refusals), ``GET /v1/audit`` with its filters and
pages, who may read it (``audit.read``), what survives a shutdown, and
retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_adapters.sqlite import SqliteAuditLog
from taco_core.audit import AuditQuery
from taco_core.caller import SYSTEM_CALLER, local_caller
from taco_http.app import create_app
from taco_http.housekeeping import maintain_once
from taco_http.settings import Settings
from taco_http.wiring import Adapters, open_services
from tests.http import test_tfe_api as tfe
from tests.http.test_rbac_api import Api, bearer, start

STATE = b'{"version": 4, "serial": %d, "lineage": "%s", "outputs": {}, "resources": []}'


def trail(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert page["count"] == len(page["records"])
    records: list[dict[str, Any]] = page["records"]
    return records


def test_the_trail_records_what_happened_to_a_unit(client: TestClient) -> None:
    """Lock, write, refused write, force-unlock, restore, delete and undelete,
    with the version, the lock ID, the surface and the client's address."""
    client.request("LOCK", "/v1/backend/app/prod", json={"ID": "L1", "Who": "alice@laptop"})
    client.put("/v1/backend/app/prod?ID=L1", content=STATE % (1, b"l"))
    client.put("/v1/backend/app/prod?ID=L1", content=STATE % (2, b"l"))
    client.put("/v1/backend/app/prod?ID=L1", content=STATE % (5, b"other"))
    client.request("UNLOCK", "/v1/backend/app/prod", content=b"")
    client.post("/v1/units/app/prod/restore", json={"version": 1})
    client.delete("/v1/units/app/prod")
    client.post("/v1/units/app/prod/undelete")
    records = trail(client, unit="app/prod")
    assert [(r["action"], r["version"], r["lock_id"]) for r in records] == [
        ("create", None, ""),
        ("lock", None, "L1"),
        ("state.write", 1, "L1"),
        ("state.write", 2, "L1"),
        ("state.refused", 3, ""),
        ("force-unlock", None, "L1"),
        ("restore", 4, ""),
        ("delete", None, ""),
        ("undelete", None, ""),
    ]
    write = records[2]
    assert (write["subject"], write["principal_kind"], write["surface"]) == (
        "anonymous",
        "anonymous",
        "backend",
    )
    assert write["origin"] == "testclient"
    assert "lineage" in records[4]["detail"]
    assert records[1]["detail"] == "alice@laptop"


def test_filters_and_pages(client: TestClient) -> None:
    """unit and subject filter exactly; limit and after page through, oldest first."""
    for unit in ("a", "b", "a/x", "a"):
        client.put(f"/v1/backend/{unit}", content=STATE % (len(unit), b"l"))
    assert {r["unit_id"] for r in trail(client, unit="a")} == {"a"}
    assert trail(client, subject="nobody") == []
    everything = trail(client)
    pages: list[dict[str, Any]] = []
    after = ""
    while True:
        page = client.get("/v1/audit", params={"limit": 2, "after": after}).json()
        pages += page["records"]
        if page["next"] is None:
            break
        assert len(page["records"]) == 2
        after = page["next"]
    assert pages == everything
    assert [r["id"] for r in everything] == sorted(r["id"] for r in everything)


def test_since_keeps_what_came_at_or_after_it(client: TestClient) -> None:
    """since selects records made at or after the time, which needs a zone."""
    client.put("/v1/backend/old", content=STATE % (1, b"l"))
    cut = trail(client)[-1]["at"]
    client.put("/v1/backend/new", content=STATE % (1, b"l"))
    later = trail(client, since=cut)
    assert later[0]["at"] == cut
    assert {r["unit_id"] for r in later} == {"old", "new"}
    assert trail(client, since="2999-01-01T00:00:00+00:00") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-01-01T00:00:00"}, "time zone"),
        ({"since": "yesterday"}, "RFC 3339"),
        ({"limit": "\u00b2"}, "whole number"),
        ({"limit": "0"}, "between 1 and"),
        ({"limit": "5000"}, "between 1 and"),
        ({"after": "not-a-cursor"}, "invalid cursor"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_parameter(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    """Malformed parameters answer 400 with the reason, never a 500."""
    response = client.get("/v1/audit", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_with_authentication_the_caller_is_named(tmp_path: Path) -> None:
    """With auth on, reading needs a credential, and a record names the
    subject and the API token that acted."""
    token_file = tmp_path / "admin-token"
    settings = Settings(storage="memory", admin_token_path=token_file)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/audit").status_code == 401
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        client.put("/v1/backend/app", content=STATE % (1, b"l"), headers=headers)
        page = client.get("/v1/audit", headers=headers).json()
    write = page["records"][-1]
    assert (write["action"], write["subject"], write["principal_kind"]) == (
        "state.write",
        "admin",
        "api_token",
    )
    assert write["token_id"]


def test_records_queued_at_shutdown_are_kept(settings: Settings) -> None:
    """Records still waiting for their group append when the service stops
    are written before it exits."""
    with TestClient(create_app(settings)) as client:
        client.put("/v1/backend/last/words", content=STATE % (1, b"l"))

    async def stored() -> list[str]:
        log = await SqliteAuditLog.open(settings.sqlite_db_path)
        try:
            return [r.action for r in (await log.query(AuditQuery(unit="last/words"))).records]
        finally:
            await log.aclose()

    assert anyio.run(stored) == ["create", "state.write"]


@pytest.mark.parametrize(
    ("retention", "kept"), [(30 * 86400.0, ["new"]), (0.0, ["old", "new"])], ids=["30d", "forever"]
)
async def test_housekeeping_forgets_records_past_the_retention(
    retention: float, kept: list[str]
) -> None:
    """maintain_once purges records older than OPENTACO_AUDIT_RETENTION; 0 keeps all."""
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    adapters = Adapters(
        states=MemoryStateStore(), auth=MemoryAuthStore(), rbac=MemoryRbacStore(), clock=clock
    )
    settings = Settings(storage="memory", auth_disable=True, audit_retention_seconds=retention)
    async with open_services(settings, adapters) as services:
        await services.states.create_unit(local_caller("me"), "old")
        clock.advance(timedelta(days=31).total_seconds())
        await services.states.create_unit(local_caller("me"), "new")
        await maintain_once(services)
        page = await services.audit.query(SYSTEM_CALLER, AuditQuery())
    assert [r.unit_id for r in page.records] == kept


@pytest.fixture
def rbac_api(tmp_path: Path) -> Iterator[Api]:
    """Auth on, memory storage, the bootstrap admin token in hand."""
    token_file = tmp_path / "admin-token"
    with start(Settings(storage="memory", admin_token_path=token_file)) as client:
        yield Api(client, token_file.read_text().strip())


def _rule(actions: list[str], pattern: str = "*") -> dict[str, Any]:
    return {"effect": "allow", "actions": actions, "resources": [pattern]}


def test_reading_the_trail_needs_audit_read_on_everything(rbac_api: Api) -> None:
    """audit.read on * (or rbac.manage, which implies it) reads the trail;
    a reader of every state, or audit.read on some units only, gets 403 and
    the refusal is itself recorded."""
    rbac_api.grant("auditor", "auditor", [_rule(["audit.read"])])
    rbac_api.grant("rbac-admin", "rbac-admin", [_rule(["rbac.manage"])])
    rbac_api.grant("prod-auditor", "prod-auditor", [_rule(["audit.read"], "prod/*")])
    rbac_api.ok("POST", "/v1/rbac/users/assign", {"subject": "reader", "role_id": "reader"})
    for subject in ("auditor", "rbac-admin"):
        answer = rbac_api.client.get("/v1/audit", headers=bearer(rbac_api.token(subject)))
        assert answer.status_code == 200, (subject, answer.text)
    for subject in ("reader", "prod-auditor"):
        refused = rbac_api.client.get(
            "/v1/audit", params={"unit": "prod/app"}, headers=bearer(rbac_api.token(subject))
        )
        assert refused.status_code == 403, subject
        assert (refused.json()["action"], refused.json()["resource"]) == ("audit.read", "*")
    auditor = bearer(rbac_api.token("auditor"))
    assert rbac_api.client.put("/v1/backend/prod/app", content=STATE % (1, b"l"), headers=auditor)
    denied = [
        r
        for r in rbac_api.ok("GET", "/v1/audit", None)["records"]
        if r["action"] == "access.denied"
    ]
    assert [(r["subject"], r["detail"].split(":")[0]) for r in denied] == [
        ("reader", "audit.read"),
        ("prod-auditor", "audit.read"),
        ("auditor", "unit.write"),
    ]


def test_tokens_and_rbac_changes_are_recorded(rbac_api: Api) -> None:
    """Creating a token, changing the policy and revoking a token (and the
    tokens it made, down the line) each leave a record naming them."""
    version_before = rbac_api.version()
    admin_token = rbac_api.ok("GET", "/v1/auth/me")["token_id"]
    rbac_api.ok("POST", "/v1/rbac/users/assign", {"subject": "ci-dev", "role_id": "reader"})
    parent = rbac_api.ok(
        "POST", "/v1/auth/tokens", {"name": "ci", "subject": "ci-dev", "expires_in": "1d"}, 201
    )
    child = rbac_api.client.post(
        "/v1/auth/tokens", json={"name": "child"}, headers=bearer(parent["token"])
    ).json()
    rbac_api.ok("DELETE", f"/v1/auth/tokens/{parent['id']}", None, 204)
    records = rbac_api.ok("GET", "/v1/audit", None)["records"]
    shown = [(r["action"], r["subject"], r["version"], r["detail"]) for r in records]
    assert shown[0][:2] == ("token.create", "opentaco")  # the bootstrap admin token, by the service
    assert shown[1:] == [
        (
            "rbac.change",
            "admin",
            version_before + 1,
            "role_assigned: role 'reader', subject 'ci-dev'",
        ),
        (
            "token.create",
            "admin",
            None,
            f"token {parent['id']} 'ci' of subject 'ci-dev'; expires {parent['expires']}; "
            f"made with token {admin_token}",
        ),
        (
            "token.create",
            "ci-dev",
            None,
            f"token {child['id']} 'child' of subject 'ci-dev'; expires {child['expires']}; "
            f"made with token {parent['id']}",
        ),
        ("token.revoke", "admin", None, f"token {parent['id']} 'ci' of subject 'ci-dev'"),
        (
            "token.revoke",
            "admin",
            None,
            f"token {child['id']} 'child' of subject 'ci-dev'; with token {parent['id']}, "
            "from which it descends",
        ),
    ]
    assert records[3]["token_id"] == parent["id"]  # the child was made with the parent token


def test_the_tfe_and_internal_apis_are_recorded_with_their_surface(tmp_path: Path) -> None:
    """Through the Terraform-Cloud-compatible API (surface tfe) and the
    internal API (surface internal): workspaces, locks, state versions, tag
    changes, organizations, their members and the creator's admin role each
    leave a record naming the surface and the person."""
    token_file = tmp_path / "admin-token"
    settings = Settings(
        storage="memory", admin_token_path=token_file, internal_endpoints_secret="ui-secret"
    )
    ui = {"Authorization": "Bearer ui-secret", "X-User-ID": "carol", "X-Org-ID": "org_b"}
    with tfe.start(settings) as client:
        api = tfe.Api(client, token_file.read_text().strip())
        synced = client.post(
            "/internal/api/orgs/sync",
            headers=ui,
            json={"name": "beta", "display_name": "Beta", "external_org_id": "org_b"},
        )
        assert synced.status_code == 201, synced.text
        assert client.post("/internal/api/users", headers=ui, json={"subject": "dave"}).is_success
        assert client.post("/internal/api/units", headers=ui, json={"id": "beta/net"}).is_success
        put = client.put(
            "/internal/api/units/beta/net/upload", headers=ui, content=STATE % (1, b"n")
        )
        assert put.status_code == 200, put.text
        api.create("app")
        ws = "/workspaces/ws-4-acme-app"
        assert api("POST", f"{ws}/actions/lock", json={}).status_code == 200
        assert api.write("ws-4-acme-app", tfe.tfstate(1)).status_code == 201
        assert api("POST", f"{ws}/actions/unlock").status_code == 200
        tag = {"data": [{"type": "tag-bindings", "attributes": {"key": "team", "value": "pay"}}]}
        assert api("PATCH", f"{ws}/tag-bindings", json=tag).status_code == 200
        records = api("GET", "/v1/audit").json()["records"]
    shown = [
        (r["action"], r["surface"], r["subject"], r["unit_id"])
        for r in records
        if r["action"] != "token.create"
    ]
    assert shown == [
        ("organization.create", "internal", "carol", ""),
        ("rbac.change", "internal", "carol", ""),
        ("user.add", "internal", "carol", ""),
        ("create", "internal", "carol", "beta/net"),
        ("state.write", "internal", "carol", "beta/net"),
        ("create", "tfe", "admin", "acme/app"),
        ("lock", "tfe", "admin", "acme/app"),
        ("state.write", "tfe", "admin", "acme/app"),
        ("unlock", "tfe", "admin", "acme/app"),
        ("labels", "tfe", "admin", "acme/app"),
    ]
    details = {r["action"]: r["detail"] for r in records}
    assert details["organization.create"].startswith("organization 'beta' (")
    assert details["organization.create"].endswith("; external ID 'org_b'")
    assert details["rbac.change"] == "role_assigned: role 'org-admin.beta', subject 'carol'"
    assert details["user.add"].startswith("user 'dave' to organization 'beta' (")
    assert details["labels"] == "labels now: team=pay"
    assert all(r["request_id"] for r in records if r["action"] != "token.create")
