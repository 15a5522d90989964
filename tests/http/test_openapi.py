"""The API description: valid OpenAPI 3.1, covering every route the app
serves (so a new route cannot be forgotten), and true to what the handlers
answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from starlette.routing import Match, Mount, Route
from starlette.testclient import TestClient

from taco_http import units
from taco_http.app import OPERATIONS, create_app, other_protocols
from taco_http.openapi import openapi_document
from taco_http.settings import Settings
from tests.http.test_rbac_api import bearer, start
from tests.unit.graph_states import edge_resource, encode, graph_state

STATE = b'{"version": 4, "serial": %d, "lineage": "lin", "outputs": {"o": {"value": %d}}}'
# The catch-all route of the units API dispatches on the path itself;
# units.served() lists what it dispatches.
UNITS_DISPATCHER = "/v1/units/{rest:path}"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(OPERATIONS)


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def described(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every operation in the document."""
    found = set()
    for path, item in document["paths"].items():
        for method in item:
            if method == "x-additionalOperations":
                found |= {(m.upper(), path) for m in item[method]}
            else:
                found.add((method.upper(), path))
    return found


def sample(path: str) -> str:
    """A concrete path for a template: every parameter a plain value."""
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_served_document_is_valid_openapi_3_1(
    app_client: TestClient, document: dict[str, Any]
) -> None:
    """GET /v1/openapi.json, without a credential, is a valid OpenAPI 3.1 document."""
    served = app_client.get("/v1/openapi.json").json()
    assert served == json.loads(json.dumps(document))
    assert served["openapi"] == "3.1.0"
    validate(served)


# Every surface, the internal API included.
ALL_SURFACES = Settings(storage="memory", auth_disable=True, internal_endpoints_secret="s")


def other_protocol_paths() -> set[str]:
    """The paths of the routes left out of the description on purpose."""
    return {r.path for r in other_protocols(ALL_SURFACES) if isinstance(r, Route | Mount)}


def test_every_route_the_app_serves_has_an_operation(document: dict[str, Any]) -> None:
    """Each (method, route) of the app, and each action the units API
    dispatches, is described; HEAD is Starlette's own, beside GET. Only the
    routes of other protocols (TFE, S3, internal) are not."""
    app = create_app(ALL_SURFACES)
    operations = described(document)
    foreign = other_protocol_paths()
    missing = []
    for route in app.routes:
        assert isinstance(route, Route | Mount)
        if route.path in foreign:
            continue
        assert isinstance(route, Route), f"a mount outside other_protocols: {route.path}"
        if route.path == UNITS_DISPATCHER:
            missing += [pair for pair in units.served() if pair not in operations]
            continue
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            scope = {"type": "http", "method": method, "path": ""}
            if not any(
                m == method and route.matches({**scope, "path": sample(p)})[0] is Match.FULL
                for m, p in operations
            ):
                missing.append((method, route.path))
    assert not missing, f"routes without an operation in OPERATIONS: {missing}"


def test_the_other_protocols_are_left_out(document: dict[str, Any]) -> None:
    """The S3 endpoint, the Terraform-Cloud-compatible API with its discovery
    and login, and the internal API are what is left out, and no operation
    describes a path of theirs."""
    foreign = other_protocol_paths()
    assert {"/s3", "/s3/{path:path}", "/api/v2", "/tfe/api/v2", "/internal/api"} <= foreign
    assert {"/.well-known/terraform.json", "/oauth/token"} <= foreign
    for path in document["paths"]:
        assert not path.startswith(("/s3", "/api/", "/tfe/", "/internal/", "/oauth/")), path
    assert not any(path.startswith("/v1") for path in foreign)


def test_every_operation_is_served(document: dict[str, Any]) -> None:
    """No operation describes a route the app does not serve."""
    app = create_app(ALL_SURFACES)
    dispatched = set(units.served())
    stale = []
    for method, path in described(document):
        if (method, path) in dispatched:
            continue
        scope = {"type": "http", "method": method, "path": sample(path)}
        if not any(
            isinstance(r, Route)
            and r.path != UNITS_DISPATCHER
            and r.matches(scope)[0] is Match.FULL
            for r in app.routes
        ):
            stale.append((method, path))
    assert not stale, f"operations no route serves: {stale}"


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    """Client generators need every operationId to be distinct."""
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for key, op in item.items()
        if key != "x-additionalOperations"
    ]
    ids += [
        op["operationId"]
        for item in document["paths"].values()
        for op in item.get("x-additionalOperations", {}).values()
    ]
    assert len(ids) == len(set(ids))


def test_terraform_lock_methods_are_described(document: dict[str, Any]) -> None:
    """LOCK and UNLOCK, which OpenAPI 3.1 has no field for, are under
    x-additionalOperations with Terraform's LockInfo (capitalised)."""
    backend = document["paths"]["/v1/backend/{id}"]
    assert set(backend["x-additionalOperations"]) == {"LOCK", "UNLOCK"}
    held = document["components"]["schemas"]["TerraformLockInfo"]
    assert held["required"] == ["ID"]
    assert set(held["properties"]) == {
        "ID",
        "Operation",
        "Info",
        "Who",
        "Version",
        "Created",
        "Path",
    }


class Checker:
    """Validates answers against the document's schema for their status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def operation(self, method: str, path: str) -> dict[str, Any]:
        """The operation of the most specific template matching ``path`` (a
        unit ID may hold slashes, so a parameter matches any text)."""
        for template in sorted(self.document["paths"], key=len, reverse=True):
            item = self.document["paths"][template]
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(template)) + "$"
            extra = item.get("x-additionalOperations", {})
            ops = {**item, **{k.lower(): v for k, v in extra.items()}}
            if re.match(pattern, path) and method.lower() in ops:
                return ops[method.lower()]
        raise AssertionError(f"no operation for {method} {path}")

    def check(self, method: str, path: str, status: int, body: bytes) -> None:
        replies = self.operation(method, path)["responses"]
        reply = replies.get(str(status)) or replies["default"]
        content = reply.get("content")
        if content is None:
            assert not body, f"{method} {path} {status} should have no body"
            return
        if "application/json" not in content or not body:
            return
        schema = {
            **content["application/json"]["schema"],
            "components": self.document["components"],
        }
        errors = sorted(OAS31Validator(schema).iter_errors(json.loads(body)), key=str)
        assert not errors, f"{method} {path} {status}: {[e.message for e in errors]}"


def test_every_answer_of_a_session_fits_its_schema(
    app_client: TestClient, document: dict[str, Any]
) -> None:
    """A session through every operation: each answer, success or error, has
    the status and the body shape the description gives it."""
    checker = Checker(document)
    c = app_client

    def call(method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = c.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        checker.check(method, path.split("?")[0], status, response.content)
        return response

    call("GET", "/healthz", 200)
    call("GET", "/readyz", 200)
    call("GET", "/v1/info", 200)
    call("GET", "/v1/auth/config", 200)
    call("GET", "/v1/auth/me", 200)
    call("GET", "/v1/auth/jwks", 200)
    call("GET", "/v1/auth/tokens", 200)
    call("POST", "/v1/auth/tokens", 403, json={"name": "ci"})
    call("DELETE", "/v1/auth/tokens/nope", 404)
    call("POST", "/v1/auth/token", 401, json={"refresh_token": "otr_nope"})
    call("POST", "/v1/auth/logout", 200, json={"refresh_token": "otr_nope"})
    call("POST", "/v1/auth/exchange", 501, json={"id_token": "x"})
    call("POST", "/v1/units", 201, json={"id": "app/prod", "labels": {"team": "a"}})
    call("POST", "/v1/units", 409, json={"id": "app/prod"})
    call("GET", "/v1/units", 200)
    call("GET", "/v1/units/app/prod", 200)
    call("GET", "/v1/units/app/prod/download", 200)
    lock = call("POST", "/v1/units/app/prod/lock", 200, json={"id": "L1", "who": "me"}).json()
    call("POST", "/v1/units/app/prod/lock", 423, json={"id": "L2"})
    call("POST", "/v1/units/app/prod/upload?if_locked_by=L1", 200, content=STATE % (1, 1))
    call("PUT", "/v1/units/app/prod/upload?if_locked_by=L1", 200, content=STATE % (2, 2))
    call("POST", "/v1/units/app/prod/upload?if_locked_by=L1", 409, content=STATE % (1, 3))
    call("POST", "/v1/units/app/prod/upload", 423, content=STATE % (3, 3))
    call("GET", "/v1/units/app/prod/versions?limit=2", 200)
    call("GET", "/v1/units/app/prod/versions/1", 200)
    call("GET", "/v1/units/app/prod/versions/99", 404)
    call("GET", "/v1/units/app/prod/diff", 200)
    call("GET", "/v1/units/app/prod/diff?from=x", 400)
    call("POST", "/v1/units/app/prod/restore", 200, json={"version": 1, "lock_id": lock["id"]})
    call("DELETE", "/v1/units/app/prod/unlock", 200, json={"id": "L1"})
    call("POST", "/v1/units/app/prod/lock", 200, json={"id": "L3"})
    call("POST", "/v1/units/app/prod/unlock?force=true", 200)
    call("DELETE", "/v1/units/app/prod", 204)
    call("POST", "/v1/units/app/prod/undelete", 200)
    call("GET", "/v1/units/nope", 404)
    call("GET", "/v1/units/bad%20id", 400)
    call("PUT", "/v1/backend/tf/prod", 200, content=STATE % (1, 1))
    call("GET", "/v1/backend/tf/prod", 200)
    call("GET", "/v1/backend/tf/none", 404)
    call("LOCK", "/v1/backend/tf/prod", 200, json={"ID": "T1", "Who": "tf"})
    call("LOCK", "/v1/backend/tf/prod", 423, json={"ID": "T2"})
    call("POST", "/v1/backend/tf/prod?ID=T2", 423, content=STATE % (2, 2))
    call("UNLOCK", "/v1/backend/tf/prod", 200, json={"ID": "T1"})
    call("DELETE", "/v1/backend/tf/prod", 200)
    call("POST", "/v1/auth/issue-s3-creds", 200)
    call("GET", "/v1/units/app/prod/status", 200)
    call("GET", "/v1/status", 200)
    call("GET", "/v1/graph", 200)
    call("PUT", "/v1/backend/tf/net", 200, content=STATE % (1, 1))
    edge = edge_resource("e0", "tf/net", "o", "app/prod")
    call("POST", "/v1/backend/__opentaco_system", 200, content=encode(graph_state(edge, serial=1)))
    call("PUT", "/v1/backend/tf/net", 200, content=STATE % (2, 2))
    assert call("GET", "/v1/units/app/prod/status", 200).json()["incoming"]
    call("GET", "/v1/units/tf/none/status", 404)
    call("GET", "/v1/units/bad%20id/status", 400)
    assert call("GET", "/v1/status", 200).json()["count"] == 2
    assert call("GET", "/v1/graph", 200).json()["edges"]
    call("GET", "/v1/graph?unit=tf/net", 200)
    call("GET", "/v1/graph?unit=tf/none", 404)
    call("GET", "/v1/graph?unit=..", 400)
    call("GET", "/v1/audit?limit=5", 200)
    call("GET", "/v1/audit?since=2026-01-01T00:00:00", 400)
    call("GET", "/v1/openapi.json", 200)
    call("GET", "/metrics", 200)


def test_every_rbac_and_token_answer_fits_its_schema(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    """With authorization on: every /v1/rbac operation, tokens for service
    subjects and narrowed tokens, and refusals, each fit their schema."""
    checker = Checker(document)
    token_file = tmp_path / "admin-token"
    with start(Settings(storage="memory", admin_token_path=token_file)) as c:
        admin = bearer(token_file.read_text().strip())

        def call(method: str, path: str, status: int, headers: Any = admin, **kw: Any) -> Any:
            response = c.request(method, path, headers=headers, **kw)
            assert response.status_code == status, (method, path, response.text)
            checker.check(method, path.split("?")[0], status, response.content)
            return response.json() if response.content else None

        rule = {"effect": "allow", "actions": ["unit.read"], "resources": ["dev/*"]}
        call("GET", "/v1/rbac/me", 200)
        call("POST", "/v1/rbac/permissions", 201, json={"id": "p", "rules": [rule]})
        call("POST", "/v1/rbac/permissions", 409, json={"id": "p", "rules": [rule]})
        call("POST", "/v1/rbac/permissions", 400, json={"id": "q", "rules": []})
        call("GET", "/v1/rbac/permissions", 200)
        call("GET", "/v1/rbac/permissions/p", 200)
        call("GET", "/v1/rbac/permissions/nope", 404)
        call("POST", "/v1/rbac/roles", 200, json={"id": "r", "description": "dev readers"})
        call("POST", "/v1/rbac/roles/r/permissions", 200, json={"permission_id": "p"})
        call("POST", "/v1/rbac/roles/r/permissions", 409, json={"permission_id": "p"})
        call("GET", "/v1/rbac/roles", 200)
        call("GET", "/v1/rbac/roles/r", 200)
        call("POST", "/v1/rbac/users/assign", 200, json={"subject": "ci", "role_id": "r"})
        call("GET", "/v1/rbac/users", 200)
        call("POST", "/v1/rbac/test", 200, json={"action": "unit.read", "resource": "dev/a"})
        tested = call(
            "POST",
            "/v1/rbac/test",
            200,
            json={"action": "unit.read", "resource": "dev/a", "subject": "ci"},
        )
        assert tested["rule"]["permission"] == "p"
        call("POST", "/v1/rbac/test", 400, json={"action": "unit.fly", "resource": "x"})
        made = call("POST", "/v1/auth/tokens", 201, json={"name": "ci", "subject": "ci"})
        narrowed = call(
            "POST", "/v1/auth/tokens", 201, json={"name": "n", "subject": "ci", "roles": ["r"]}
        )
        call("GET", "/v1/auth/tokens", 200)
        ci = bearer(made["token"])
        call("GET", "/v1/rbac/me", 200, headers=bearer(narrowed["token"]))
        call("GET", "/v1/rbac/roles", 403, headers=ci)
        call("GET", "/v1/audit", 403, headers=ci)
        call("GET", "/v1/status", 200, headers=ci)
        call("POST", "/v1/auth/issue-s3-creds", 200, headers=ci)
        call("PUT", "/v1/backend/prod/app", 403, headers=ci, content=STATE % (1, 1))
        call("DELETE", f"/v1/auth/tokens/{made['id']}", 204)
        call("DELETE", "/v1/rbac/roles/r/permissions/p", 204)
        call("DELETE", "/v1/rbac/roles/r", 409)
        call("POST", "/v1/rbac/users/revoke", 200, json={"subject": "ci", "role_id": "r"})
        call("DELETE", "/v1/rbac/roles/r", 204)
        call("DELETE", "/v1/rbac/permissions/p?cascade=true", 204)
        call("POST", "/v1/rbac/users/revoke", 409, json={"subject": "admin", "role_id": "admin"})
        call("GET", "/v1/audit", 200)
