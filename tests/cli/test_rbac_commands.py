"""``taco rbac`` and ``taco token create --subject/--role`` against a real
server with authentication on: what they print, their JSON, and their exit
codes (0 allowed / 4 denied for ``rbac test``; the server's 403 is exit 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from taco_core.graph import GRAPH_UNIT
from tests.cli.conftest import Taco
from tests.servers import Server, running_server
from tests.unit.graph_states import edge_resource, encode, graph_state


@attrs.frozen
class Secured:
    server: Server
    admin: str


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """One server with authentication on for the module, and its admin token."""
    workdir = tmp_path_factory.mktemp("rbac-svc")
    with running_server(workdir, auth_disable=False) as server:
        yield Secured(server, (workdir / "data" / "admin-token").read_text().strip())


@pytest.fixture
def admin(secured: Secured, tmp_path: Path) -> Taco:
    """``taco`` as the bootstrap admin (OPENTACO_TOKEN)."""
    work = tmp_path / "work"
    work.mkdir()
    return Taco(work, secured.server.url)


def as_admin(taco: Taco, secured: Secured, *args: str) -> str:
    return taco.ok(*args, env={"OPENTACO_TOKEN": secured.admin}).out


def test_a_ci_role_set_up_and_tested_from_the_cli(admin: Taco, secured: Secured) -> None:
    """permission create, role create, assign-policy, user assign, the three
    listings, and rbac test exiting 0 when allowed and 4 when denied, naming
    the rule that decided."""
    env = {"OPENTACO_TOKEN": secured.admin}
    out = as_admin(
        admin,
        secured,
        "rbac",
        "permission",
        "create",
        "web-write",
        "--rule",
        "allow:unit.read,unit.write,unit.lock:web/*",
        "--rule",
        "deny:unit.write:web/frozen/*",
        "--name",
        "Write web",
    )
    assert out == (
        "Permission created: web-write\n"
        "  1. allow:unit.read,unit.write,unit.lock:web/*\n"
        "  2. deny:unit.write:web/frozen/*\n"
    )
    assert as_admin(admin, secured, "rbac", "role", "create", "ci-web", "--description", "CI") == (
        "Role created: ci-web\n"
    )
    assert as_admin(admin, secured, "rbac", "role", "assign-policy", "ci-web", "web-write") == (
        "Permission web-write assigned to role ci-web (permissions now: web-write)\n"
    )
    assert as_admin(admin, secured, "rbac", "user", "assign", "ci-web", "ci-web") == (
        "Role ci-web assigned to ci-web (roles now: ci-web)\n"
    )
    users = admin.ok("rbac", "user", "ls", "--json", env=env).json()
    assert {"subject": "ci-web", "roles": ["ci-web"]} in users
    roles = admin.ok("rbac", "role", "ls", env=env).out
    assert ["ci-web", "ci-web", "web-write", "CI"] in [line.split() for line in roles.splitlines()]
    permissions = admin.ok("rbac", "permission", "ls", "--json", env=env).json()
    web = next(p for p in permissions if p["id"] == "web-write")
    assert web["name"] == "Write web" and len(web["rules"]) == 2

    allowed = admin("rbac", "test", "ci-web", "unit.write", "web/app", env=env)
    assert allowed.code == 0, allowed
    assert allowed.out.splitlines()[:2] == [
        "allowed: ci-web unit.write on web/app",
        "Decided:  allowed by rule 1 of permission 'web-write' in role 'ci-web' "
        "(allow:unit.read,unit.write,unit.lock:web/*)",
    ]
    denied = admin("rbac", "test", "ci-web", "unit.write", "web/frozen/x", "--json", env=env)
    assert denied.code == 4, denied
    doc = denied.json()
    assert (doc["status"], doc["basis"], doc["rule"]["number"]) == ("denied", "deny_rule", 2)
    elsewhere = admin("rbac", "test", "ci-web", "unit.read", "prod/app", env=env)
    assert elsewhere.code == 4 and "no rule of the caller's roles allows it" in elsewhere.out


def test_service_subject_tokens_and_their_narrowing(admin: Taco, secured: Secured) -> None:
    """token create --subject makes a token acting as the service subject,
    --role narrows it (only to roles held), and token ls shows the roles."""
    env = {"OPENTACO_TOKEN": secured.admin}
    as_admin(admin, secured, "rbac", "role", "create", "svc-a")
    as_admin(admin, secured, "rbac", "role", "create", "svc-b")
    as_admin(admin, secured, "rbac", "user", "assign", "svc", "svc-a")
    as_admin(admin, secured, "rbac", "user", "assign", "svc", "svc-b")
    created = admin.ok(
        "token", "create", "--name", "svc-ci", "--subject", "svc", "--role", "svc-a", env=env
    ).out
    assert "Acts as:  svc\n" in created and "Roles:    svc-a\n" in created
    token = next(line.strip() for line in created.splitlines() if line.strip().startswith("otc_"))
    me = admin.ok("rbac", "me", "--json", env={"OPENTACO_TOKEN": token}).json()
    assert (me["subject"], me["roles"], me["narrowed_to"]) == ("svc", ["svc-a"], ["svc-a"])
    listed = admin.ok("token", "ls", env=env).out
    assert listed.splitlines()[0].split() == [
        "ID",
        "NAME",
        "SUBJECT",
        "ROLES",
        "CREATED",
        "(UTC)",
        "EXPIRES",
        "(UTC)",
        "STATUS",
    ]
    assert any(line.split()[1:4] == ["svc-ci", "svc", "svc-a"] for line in listed.splitlines())
    refused = admin(
        "token", "create", "--name", "x", "--subject", "svc", "--role", "admin", env=env
    )
    assert refused.code == 1 and "does not hold role 'admin'" in refused.err, refused


def test_without_rbac_manage_only_me_and_self_tests_work(admin: Taco, secured: Secured) -> None:
    """A token whose subject holds no role: me works, testing itself exits 4,
    and every management command exits 1 with the server's permission denied."""
    env = {"OPENTACO_TOKEN": secured.admin}
    token = admin.ok("token", "create", "--name", "n", "--subject", "nobody", "--json", env=env)
    mine = {"OPENTACO_TOKEN": token.json()["token"]}
    me = admin.ok("rbac", "me", env=mine).out
    assert "Subject:  nobody\n" in me and "Roles:    -\n" in me and "No roles assigned" in me
    self_test = admin("rbac", "test", "nobody", "unit.read", "web/app", env=mine)
    assert self_test.code == 4 and "the caller holds no roles" in self_test.out
    for args in (
        ("rbac", "role", "ls"),
        ("rbac", "user", "assign", "nobody", "admin"),
        ("rbac", "test", "admin", "unit.read", "x"),
        ("token", "create", "--name", "x", "--subject", "admin"),
    ):
        result = admin(*args, env=mine)
        assert result.code == 1, (args, result)
        assert "permission denied:" in result.err and "Traceback" not in result.err
    failed = admin("rbac", "role", "ls", "--json", env=mine)
    assert failed.code == 1 and '"kind": "PermissionDenied"' in failed.err


def test_deletes_cascade_only_when_asked_and_missing_things_exit_4(
    admin: Taco, secured: Secured
) -> None:
    """A role in use is kept (exit 1 naming the holder) until --cascade; a
    missing role or assignment exits 4."""
    env = {"OPENTACO_TOKEN": secured.admin}
    as_admin(admin, secured, "rbac", "role", "create", "temp")
    as_admin(admin, secured, "rbac", "user", "assign", "dana", "temp")
    kept = admin("rbac", "role", "rm", "temp", env=env)
    assert kept.code == 1 and "'dana'" in kept.err
    assert as_admin(admin, secured, "rbac", "role", "rm", "temp", "--cascade") == (
        "Role deleted: temp\n"
    )
    assert admin("rbac", "role", "rm", "temp", env=env).code == 4
    assert admin("rbac", "user", "revoke", "dana", "temp", env=env).code == 4
    assert admin("rbac", "role", "revoke-permission", "admin", "reader", env=env).code == 4


def test_dependency_views_follow_the_callers_roles(admin: Taco, secured: Secured) -> None:
    """taco unit status and dep ls with a token allowed g-dev/* only: the
    other units are neither listed nor named (g-dev/app is red because of one,
    counted but not shown), and asking for one exits 1 with the server's 403."""
    env = {"OPENTACO_TOKEN": secured.admin}
    for unit, value in (("g-prod/db", "1"), ("g-dev/net", "1"), ("g-dev/app", "1")):
        admin.ok("unit", "create", unit, env=env)
        admin.ok("unit", "push", unit, "-", stdin=_outputs(unit, 1, value), env=env)
    links = [("g-prod/db", "out", "g-dev/app"), ("g-dev/net", "out", "g-dev/app")]
    resources = [edge_resource(f"e{n}", *link) for n, link in enumerate(links)]
    written = httpx.post(  # by Terraform, through the backend, which creates the unit
        f"{secured.server.url}/v1/backend/{GRAPH_UNIT}",
        content=encode(graph_state(*resources)),
        auth=("terraform", secured.admin),
    )
    assert written.status_code == 200, written.text
    admin.ok("unit", "push", "g-prod/db", "-", stdin=_outputs("g-prod/db", 2, "2"), env=env)
    as_admin(
        admin, secured, "rbac", "permission", "create", "g-dev-read", "--rule",
        "allow:unit.read:g-dev/*",
    )  # fmt: skip
    as_admin(admin, secured, "rbac", "role", "create", "g-dev-read")
    as_admin(admin, secured, "rbac", "role", "assign-permission", "g-dev-read", "g-dev-read")
    as_admin(admin, secured, "rbac", "user", "assign", "g-dev", "g-dev-read")
    token = admin.ok("token", "create", "--name", "g", "--subject", "g-dev", "--json", env=env)
    mine = {"OPENTACO_TOKEN": token.json()["token"]}
    assert admin.ok("unit", "status", "--prefix", "g-", env=mine).out.splitlines() == [
        "UNIT       STATUS          PENDING  FIRST OFFENDER",
        "g-dev/app  needs re-apply  1        -",
        "g-dev/net  up to date      0        -",
        "",
        "Total: 2 units: 1 up to date, 1 needs re-apply",
    ]
    edges = admin.ok("dep", "ls", "--json", env=mine).json()["edges"]
    assert [(e["from_unit_id"], e["to_unit_id"]) for e in edges] == [("g-dev/net", "g-dev/app")]
    refused = admin("unit", "status", "g-prod/db", env=mine)
    assert refused.code == 1, refused
    assert "permission denied: unit.read_outputs on unit 'g-prod/db'" in refused.err
    assert admin("dep", "ls", "--unit", "g-prod/db", env=mine).code == 1


def _outputs(unit: str, serial: int, value: str) -> bytes:
    doc = {
        "version": 4,
        "serial": serial,
        "lineage": f"L-{unit}",
        "outputs": {"out": {"value": value, "type": "string"}},
        "resources": [],
    }
    return json.dumps(doc).encode()


def test_rbac_commands_need_a_server(tmp_path: Path) -> None:
    """--embedded has no authorization to manage: a usage error, exit 2."""
    result = Taco(tmp_path, None)("--embedded", str(tmp_path / "t.db"), "rbac", "role", "ls")
    assert result.code == 2 and "needs a server" in result.err
