"""Authorization over HTTP, against the real app with auth on: every
``/v1/rbac`` route allowed for an admin and refused (403, nothing changed)
for a caller without rbac.manage; the shapes; the errors; and enforcement of
the same decisions on the backend, the management API and the token API."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from taco_adapters.clock import SystemClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters
from tests.idp import CLIENT_ID, FakeProvider


def state(serial: int, *, secret: str = "s3cr3t") -> bytes:
    """A format-4 state with a resource, a public and a sensitive output."""
    return json.dumps(
        {
            "version": 4,
            "terraform_version": "1.5.0",
            "serial": serial,
            "lineage": "lin-1",
            "outputs": {
                "endpoint": {"value": "db.internal:5432", "type": "string"},
                "password": {"value": secret, "type": "string", "sensitive": True},
            },
            "resources": [{"mode": "managed", "type": "random_password", "name": "db"}],
        }
    ).encode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(token: str) -> dict[str, str]:
    raw = base64.b64encode(f"terraform:{token}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def start(settings: Settings) -> TestClient:
    adapters = Adapters(
        states=MemoryStateStore(),
        auth=MemoryAuthStore(),
        rbac=MemoryRbacStore(),
        clock=SystemClock(),
    )
    return TestClient(create_app(settings, adapters=adapters))


class Api:
    """The app, the bootstrap admin token, and helpers that use it."""

    def __init__(self, client: TestClient, admin: str) -> None:
        self.client = client
        self.admin = admin

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.client.request(method, path, json=body, headers=bearer(self.admin))
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def token(self, subject: str, roles: list[str] | None = None) -> str:
        """An API token for ``subject`` (made by the admin)."""
        body: dict[str, Any] = {"name": f"t-{subject}", "subject": subject}
        if roles is not None:
            body["roles"] = roles
        return str(self.ok("POST", "/v1/auth/tokens", body, status=201)["token"])

    def grant(self, subject: str, role: str, rules: list[dict[str, Any]]) -> None:
        """A permission and a role named ``role`` with ``rules``, held by ``subject``."""
        self.ok("POST", "/v1/rbac/permissions", {"id": role, "rules": rules}, status=201)
        self.ok("POST", "/v1/rbac/roles", {"id": role, "permissions": [role]})
        self.ok("POST", "/v1/rbac/users/assign", {"subject": subject, "role_id": role})

    def version(self) -> int:
        return int(self.ok("GET", "/v1/rbac/roles")[0]["version"])


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    token_file = tmp_path / "admin-token"
    with start(Settings(storage="memory", admin_token_path=token_file)) as client:
        yield Api(client, token_file.read_text().strip())


@pytest.fixture
def seeded(api: Api) -> Api:
    """Permission p1 (read dev/*), role r1 with it, held by subject s1."""
    api.grant("s1", "r1", [{"effect": "allow", "actions": ["unit.read"], "resources": ["dev/*"]}])
    api.ok("POST", "/v1/rbac/permissions", {"id": "p1", "rules": [_rule("unit.read", "x/*")]}, 201)
    api.ok("POST", "/v1/rbac/roles/r1/permissions", {"permission_id": "p1"})
    return api


def _rule(action: str, pattern: str, effect: str = "allow") -> dict[str, Any]:
    return {"effect": effect, "actions": [action], "resources": [pattern]}


# Every route that needs rbac.manage, with a request the admin may make on
# the seeded policy and the status it answers.
MANAGED: list[tuple[str, str, Any, int]] = [
    ("GET", "/v1/rbac/users", None, 200),
    ("POST", "/v1/rbac/users/assign", {"subject": "s2", "role_id": "r1"}, 200),
    ("POST", "/v1/rbac/users/revoke", {"subject": "s1", "role_id": "r1"}, 200),
    ("GET", "/v1/rbac/roles", None, 200),
    ("POST", "/v1/rbac/roles", {"id": "r2", "name": "Two"}, 200),
    ("GET", "/v1/rbac/roles/r1", None, 200),
    ("DELETE", "/v1/rbac/roles/r1?cascade=true", None, 204),
    ("POST", "/v1/rbac/roles/r1/permissions", {"permission_id": "reader"}, 200),
    ("DELETE", "/v1/rbac/roles/r1/permissions/p1", None, 204),
    ("GET", "/v1/rbac/permissions", None, 200),
    ("POST", "/v1/rbac/permissions", {"id": "p2", "rules": [_rule("unit.lock", "*")]}, 201),
    ("GET", "/v1/rbac/permissions/p1", None, 200),
    ("DELETE", "/v1/rbac/permissions/p1?cascade=true", None, 204),
    ("POST", "/v1/rbac/test", {"subject": "admin", "action": "unit.read", "resource": "a"}, 200),
    ("POST", "/v1/rbac/test", {"groups": ["devs"], "action": "unit.read", "resource": "x"}, 200),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), MANAGED)
def test_every_managed_route_serves_an_admin(
    seeded: Api, method: str, path: str, body: Any, status: int
) -> None:
    """The bootstrap admin (role admin) may use every route."""
    seeded.ok(method, path, body, status=status)


@pytest.mark.parametrize(("method", "path", "body", "status"), MANAGED)
def test_every_managed_route_refuses_a_caller_without_rbac_manage(
    seeded: Api, method: str, path: str, body: Any, status: int
) -> None:
    """A caller holding roles, but not rbac.manage, gets 403 naming the
    action, in the usual error JSON, and nothing changes."""
    token = seeded.token("s1")
    before = seeded.ok("GET", "/v1/rbac/roles")
    response = seeded.client.request(method, path, json=body, headers=bearer(token))
    assert response.status_code == 403, response.text
    error = response.json()
    assert (error["kind"], error["action"], error["resource"]) == (
        "permission_denied",
        "rbac.manage",
        "*",
    )
    assert "rbac.manage" in error["error"]
    assert seeded.ok("GET", "/v1/rbac/roles") == before


def test_me_and_a_self_test_are_open_to_everyone(seeded: Api) -> None:
    """/me and a test of oneself need no rbac.manage, even with no roles at all."""
    for subject, roles in (("s1", ["r1"]), ("nobody", [])):
        token = seeded.token(subject)
        me = seeded.client.get("/v1/rbac/me", headers=bearer(token)).json()
        assert (me["rbac_enabled"], me["subject"], me["roles"]) == (True, subject, roles)
        assert me["kind"] == "api_token" and me["token_id"]
        assert ("message" in me) is (not roles)
        body = {"action": "unit.read", "resource": "dev/app"}
        for request in (body, {**body, "subject": subject}):
            answer = seeded.client.post("/v1/rbac/test", json=request, headers=bearer(token))
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == ("allowed" if roles else "denied")


def test_shapes_follow_the_reference(seeded: Api) -> None:
    """Lists are bare arrays of the reference's objects; a permission is
    created with 201 and its JSON; a test says which rule decided."""
    roles = seeded.ok("GET", "/v1/rbac/roles")
    r1 = next(r for r in roles if r["id"] == "r1")
    assert set(r1) == {
        "id",
        "name",
        "description",
        "permissions",
        "created_at",
        "created_by",
        "version",
    }
    assert r1["permissions"] == ["r1", "p1"]
    assert r1["created_by"].startswith("admin (API token ")
    assert r1["created_at"].endswith("Z")
    permissions = seeded.ok("GET", "/v1/rbac/permissions")
    assert {p["id"] for p in permissions} == {"admin", "reader", "r1", "p1"}
    assert set(permissions[0]) == {
        "id",
        "name",
        "description",
        "rules",
        "created_at",
        "created_by",
    }
    users = seeded.ok("GET", "/v1/rbac/users")
    assert {u["subject"]: u["roles"] for u in users} == {"admin": ["admin"], "s1": ["r1"]}
    created = seeded.ok(
        "POST",
        "/v1/rbac/permissions",
        {
            "id": "mixed",
            "name": "Mixed",
            "rules": [_rule("*", "*"), _rule("unit.delete", "prod/*", "deny")],
        },
        status=201,
    )
    assert created["rules"][1] == {
        "effect": "deny",
        "actions": ["unit.delete"],
        "resources": ["prod/*"],
    }
    seeded.ok("POST", "/v1/rbac/roles", {"id": "careful", "permissions": ["mixed"]})
    seeded.ok("POST", "/v1/rbac/users/assign", {"subject": "carol", "role_id": "careful"})
    test = seeded.ok(
        "POST",
        "/v1/rbac/test",
        {"subject": "carol", "action": "unit.delete", "resource": "prod/db"},
    )
    assert test == {
        "status": "denied",
        "reason": "denied by rule 2 of permission 'mixed' in role 'careful'",
        "subject": "carol",
        "action": "unit.delete",
        "resource": "prod/db",
        "basis": "deny_rule",
        "rule": {
            "role": "careful",
            "permission": "mixed",
            "number": 2,
            "effect": "deny",
            "actions": ["unit.delete"],
            "resources": ["prod/*"],
        },
        "user_roles": ["careful"],
        "applicable_permissions": ["mixed"],
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"),
    [
        ("GET", "/v1/rbac/roles/ghost", None, 404, "role_not_found"),
        ("GET", "/v1/rbac/permissions/ghost", None, 404, "permission_not_found"),
        ("POST", "/v1/rbac/roles", {"id": "r1"}, 409, "role_already_exists"),
        ("POST", "/v1/rbac/roles", {"id": "bad id"}, 400, "invalid_input"),
        ("POST", "/v1/rbac/roles", {"name": "no id"}, 400, "invalid_input"),
        (
            "POST",
            "/v1/rbac/roles",
            {"id": "r9", "permissions": ["ghost"]},
            404,
            "permission_not_found",
        ),
        ("DELETE", "/v1/rbac/roles/r1", None, 409, "still_referenced"),
        ("DELETE", "/v1/rbac/roles/r1?cascade=maybe", None, 400, "invalid_input"),
        ("DELETE", "/v1/rbac/permissions/p1", None, 409, "still_referenced"),
        ("POST", "/v1/rbac/roles/r1/permissions", {"permission_id": "p1"}, 409, "already_assigned"),
        ("DELETE", "/v1/rbac/roles/r1/permissions/reader", None, 404, "not_assigned"),
        (
            "POST",
            "/v1/rbac/users/assign",
            {"subject": "s1", "role_id": "ghost"},
            404,
            "role_not_found",
        ),
        (
            "POST",
            "/v1/rbac/users/assign",
            {"email": "a@x.test", "role_id": "r1"},
            400,
            "invalid_input",
        ),
        ("POST", "/v1/rbac/users/revoke", {"subject": "s9", "role_id": "r1"}, 404, "not_assigned"),
        (
            "POST",
            "/v1/rbac/users/revoke",
            {"subject": "admin", "role_id": "admin"},
            409,
            "would_lock_out",
        ),
        ("POST", "/v1/rbac/permissions", {"id": "p9", "rules": []}, 400, "invalid_input"),
        (
            "POST",
            "/v1/rbac/permissions",
            {"id": "p9", "rules": [_rule("unit.fly", "*")]},
            400,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/rbac/permissions",
            {"id": "p9", "rules": [_rule("*", "*", "maybe")]},
            400,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/rbac/permissions",
            {"id": "p9", "rules": [_rule("*", "/dev/*")]},
            400,
            "invalid_input",
        ),
        ("POST", "/v1/rbac/test", {"action": "unit.fly", "resource": "x"}, 400, "invalid_input"),
        ("POST", "/v1/rbac/test", {"action": "unit.read"}, 400, "invalid_input"),
    ],
)
def test_errors_are_typed_json(
    seeded: Api, method: str, path: str, body: Any, status: int, kind: str
) -> None:
    """Missing things are 404, clashes 409, bad input 400, each with its kind,
    and none of them changes the policy."""
    before = seeded.version()
    response = seeded.client.request(method, path, json=body, headers=bearer(seeded.admin))
    assert response.status_code == status, response.text
    assert response.json()["kind"] == kind
    assert seeded.version() == before


# -- enforcement on the other surfaces ---------------------------------------------------


@pytest.fixture
def ci(api: Api) -> str:
    """A ci-dev token: write, lock and read on dev/* only."""
    api.grant(
        "ci-dev",
        "ci-dev",
        [
            {
                "effect": "allow",
                "actions": ["unit.read", "unit.write", "unit.lock"],
                "resources": ["dev/*"],
            }
        ],
    )
    return api.token("ci-dev")


def test_ci_token_writes_dev_and_is_refused_on_prod(api: Api, ci: str) -> None:
    """The backend writes dev/app and refuses prod/app with 403 naming the
    action and unit; the listing shows only what the token may see."""
    client = api.client
    assert (
        client.post("/v1/backend/dev/app", content=state(1), headers=basic(ci)).status_code == 200
    )
    assert (
        client.request(
            "LOCK", "/v1/backend/dev/app", json={"ID": "l1"}, headers=basic(ci)
        ).status_code
        == 200
    )
    refused = client.post("/v1/backend/prod/app", content=state(1), headers=basic(ci))
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "permission denied: unit.write on unit 'prod/app' is not allowed "
        "(no rule of the caller's roles allows it)"
    )
    api.ok("POST", "/v1/units", {"id": "prod/app"}, status=201)
    for method, path in (
        ("GET", "/v1/backend/prod/app"),
        ("LOCK", "/v1/backend/prod/app"),
        ("DELETE", "/v1/units/prod/app"),
        ("GET", "/v1/units/prod/app/versions"),
        ("GET", "/v1/units/prod/app/diff"),
    ):
        assert client.request(method, path, headers=basic(ci)).status_code == 403, (method, path)
    units = client.get("/v1/units", headers=bearer(ci)).json()
    assert [u["id"] for u in units["units"]] == ["dev/app"]
    assert client.delete("/v1/units/dev/app", headers=bearer(ci)).status_code == 403


def test_narrowed_token_never_exceeds_its_roles(api: Api) -> None:
    """A token narrowed to one role of its subject acts with that role only,
    and cannot be narrowed to a role the subject does not hold."""
    api.grant("ops", "dev-rw", [_rule("*", "dev/*")])
    api.grant("ops", "prod-rw", [_rule("*", "prod/*")])
    narrowed = api.token("ops", roles=["dev-rw"])
    client = api.client
    assert (
        client.post("/v1/backend/dev/x", content=state(1), headers=basic(narrowed)).status_code
        == 200
    )
    assert (
        client.post("/v1/backend/prod/x", content=state(1), headers=basic(narrowed)).status_code
        == 403
    )
    me = client.get("/v1/rbac/me", headers=bearer(narrowed)).json()
    assert (me["roles"], me["narrowed_to"]) == (["dev-rw"], ["dev-rw"])
    refused = api.client.post(
        "/v1/auth/tokens",
        json={"name": "x", "subject": "ops", "roles": ["admin"]},
        headers=bearer(api.admin),
    )
    assert refused.status_code == 400 and "does not hold role 'admin'" in refused.json()["error"]
    listed = api.ok("GET", "/v1/auth/tokens")["tokens"]
    assert {t["name"]: t["roles"] for t in listed}["t-ops"] == ["dev-rw"]


def test_token_for_another_subject_needs_token_manage(api: Api, ci: str) -> None:
    """Without token.manage a token for another subject is 403; one's own is fine."""
    client = api.client
    refused = client.post(
        "/v1/auth/tokens", json={"name": "x", "subject": "admin"}, headers=bearer(ci)
    )
    assert refused.status_code == 403 and refused.json()["action"] == "token.manage"
    own = client.post("/v1/auth/tokens", json={"name": "mine"}, headers=bearer(ci))
    assert own.status_code == 201 and own.json()["subject"] == "ci-dev"
    listed = client.get("/v1/auth/tokens", headers=bearer(ci)).json()["tokens"]
    assert {t["subject"] for t in listed} == {"ci-dev"}
    bad = client.post("/v1/auth/tokens", json={"name": "x", "roles": "ci-dev"}, headers=bearer(ci))
    assert bad.status_code == 400


def test_outputs_only_reader_gets_a_redacted_state_on_every_read_route(api: Api) -> None:
    """unit.read_outputs alone: the backend GET, /download and /versions/N
    answer the outputs-only state (no resources, no sensitive output); diff
    and writes are refused; the unit is listed."""
    api.ok("POST", "/v1/units", {"id": "prod/app"}, status=201)
    for serial in (1, 2):
        api.client.post("/v1/backend/prod/app", content=state(serial), headers=basic(api.admin))
    api.grant("consumer", "outputs", [_rule("unit.read_outputs", "prod/*")])
    token = api.token("consumer")
    client = api.client
    for path in (
        "/v1/backend/prod/app",
        "/v1/units/prod/app/download",
        "/v1/units/prod/app/versions/1",
    ):
        response = client.get(path, headers=basic(token))
        assert response.status_code == 200, (path, response.text)
        doc = response.json()
        assert doc["resources"] == [] and "s3cr3t" not in response.text, path
        assert doc["outputs"] == {"endpoint": {"value": "db.internal:5432", "type": "string"}}
        assert doc["lineage"] == "lin-1" and doc["version"] == 4
    assert client.get("/v1/units/prod/app/diff", headers=basic(token)).status_code == 403
    assert (
        client.post("/v1/backend/prod/app", content=state(3), headers=basic(token)).status_code
        == 403
    )
    assert [u["id"] for u in client.get("/v1/units", headers=basic(token)).json()["units"]] == [
        "prod/app"
    ]
    full = client.get("/v1/backend/prod/app", headers=basic(api.admin))
    assert "s3cr3t" in full.text


# -- fresh installs, OIDC users, group mapping ------------------------------------------------


@pytest.fixture
def oidc(provider: FakeProvider) -> Iterator[TestClient]:
    settings = Settings(
        storage="memory",
        auth_issuer=provider.issuer,
        auth_client_id=CLIENT_ID,
        rbac_group_roles="platform=admin,readers=reader",
        rbac_subject_roles="root-by-config=admin",
    )
    with start(settings) as client:
        yield client


def login(client: TestClient, provider: FakeProvider, **claims: Any) -> str:
    issued = client.post("/v1/auth/exchange", json={"id_token": provider.mint(**claims)})
    assert issued.status_code == 200, issued.text
    return str(issued.json()["access_token"])


# Every route a user might call, with a plausible request.
EVERY_ROUTE: list[tuple[str, str, Any]] = [
    ("GET", "/v1/backend/a/b", None),
    (
        "POST",
        "/v1/backend/a/b",
        {"version": 4, "serial": 1, "lineage": "l", "outputs": {}, "resources": []},
    ),
    ("LOCK", "/v1/backend/a/b", {"ID": "x"}),
    ("UNLOCK", "/v1/backend/a/b", None),
    ("DELETE", "/v1/backend/a/b", None),
    ("POST", "/v1/units", {"id": "a/b"}),
    ("GET", "/v1/units/a/b", None),
    ("PATCH", "/v1/units/a/b", {"labels": {"k": "v"}}),
    ("DELETE", "/v1/units/a/b", None),
    ("GET", "/v1/units/a/b/download", None),
    (
        "POST",
        "/v1/units/a/b/upload",
        {"version": 4, "serial": 1, "lineage": "l", "outputs": {}, "resources": []},
    ),
    ("POST", "/v1/units/a/b/lock", {}),
    ("DELETE", "/v1/units/a/b/unlock?force=true", None),
    ("GET", "/v1/units/a/b/versions", None),
    ("GET", "/v1/units/a/b/versions/1", None),
    ("POST", "/v1/units/a/b/restore", {"version": 1}),
    ("POST", "/v1/units/a/b/undelete", None),
    ("GET", "/v1/units/a/b/diff", None),
    *[(m, p, b) for m, p, b, _ in MANAGED],
    ("POST", "/v1/auth/tokens", {"name": "x", "subject": "other"}),
]


def test_a_fresh_oidc_user_without_roles_is_refused_everywhere_with_403(
    oidc: TestClient, provider: FakeProvider
) -> None:
    """Deny by default: a user with no assignment and no mapped group gets
    403 (never 500) on every unit and RBAC route, and an empty unit list."""
    admin = login(oidc, provider, sub="boss", groups=["platform"])
    assert oidc.post("/v1/units", json={"id": "a/b"}, headers=bearer(admin)).status_code == 201
    user = login(oidc, provider, sub="newbie", groups=["elsewhere"])
    for method, path, body in EVERY_ROUTE:
        response = oidc.request(method, path, json=body, headers=bearer(user))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["kind"] == "permission_denied", (method, path)
    assert oidc.get("/v1/units", headers=bearer(user)).json() == {"units": [], "count": 0}
    me = oidc.get("/v1/rbac/me", headers=bearer(user)).json()
    assert (me["roles"], me["message"]) == ([], "No roles assigned")
    # What a user may always do: know who they are, test themselves, own tokens.
    assert (
        oidc.post("/v1/auth/tokens", json={"name": "mine"}, headers=bearer(user)).status_code == 201
    )
    assert oidc.get("/v1/auth/tokens", headers=bearer(user)).status_code == 200


def test_groups_map_to_roles(oidc: TestClient, provider: FakeProvider) -> None:
    """OPENTACO_RBAC_GROUP_ROLES: the platform group administers, readers read
    every unit and write none; an assignment adds to a user's groups' roles."""
    admin = login(oidc, provider, sub="boss", groups=["platform"])
    reader = login(oidc, provider, sub="ann", groups=["readers"])
    assert oidc.get("/v1/rbac/me", headers=bearer(admin)).json()["roles"] == ["admin"]
    oidc.post("/v1/units", json={"id": "team/app"}, headers=bearer(admin))
    assert oidc.get("/v1/units", headers=bearer(reader)).json()["count"] == 1
    assert oidc.post("/v1/units", json={"id": "team/x"}, headers=bearer(reader)).status_code == 403
    assigned = oidc.post(
        "/v1/rbac/users/assign", json={"subject": "ann", "role_id": "admin"}, headers=bearer(admin)
    )
    assert assigned.status_code == 200 and assigned.json()["roles"] == ["admin"]
    assert oidc.get("/v1/rbac/me", headers=bearer(reader)).json()["roles"] == ["admin", "reader"]
    assert oidc.post("/v1/units", json={"id": "team/x"}, headers=bearer(reader)).status_code == 201


def test_subjects_get_roles_from_the_configuration(
    oidc: TestClient, provider: FakeProvider
) -> None:
    """OPENTACO_RBAC_SUBJECT_ROLES makes a user without groups an admin (an
    identity provider that sends no groups still has a way in), and counts
    as an admin for the lock-out guard."""
    root = login(oidc, provider, sub="root-by-config", groups=None)
    me = oidc.get("/v1/rbac/me", headers=bearer(root)).json()
    assert (me["groups"], me["roles"]) == ([], ["admin"])
    revoked = oidc.post(
        "/v1/rbac/users/revoke", json={"subject": "admin", "role_id": "admin"}, headers=bearer(root)
    )
    assert revoked.status_code == 200, revoked.text
    assert oidc.get("/v1/rbac/users", headers=bearer(root)).json() == []


def test_with_auth_disabled_rbac_is_off(tmp_path: Path) -> None:
    """OPENTACO_AUTH_DISABLE turns RBAC off: everything is allowed, /me says so,
    and there is nothing to manage (501 naming the setting)."""
    with start(Settings(storage="memory", auth_disable=True)) as client:
        assert client.post("/v1/units", json={"id": "a/b"}).status_code == 201
        me = client.get("/v1/rbac/me").json()
        assert (me["rbac_enabled"], me["subject"]) == (False, "anonymous")
        test = client.post("/v1/rbac/test", json={"action": "unit.delete", "resource": "a/b"})
        assert test.json()["status"] == "allowed" and test.json()["basis"] == "disabled"
        managed = client.get("/v1/rbac/roles")
        assert managed.status_code == 501 and "OPENTACO_AUTH_DISABLE" in managed.json()["error"]
