"""Prometheus metrics: requests by route template (never by unit ID), the
domain's counters from its events, storage calls, and who may read them."""

from __future__ import annotations

import base64
from pathlib import Path

import attrs
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from taco_adapters.clock import SystemClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_core.errors import StorageUnavailable
from taco_http.app import create_app
from taco_http.connections import ConnectionStats
from taco_http.metrics import ConnectionCollector
from taco_http.settings import Settings
from taco_http.telemetry import credential_kind
from taco_http.wiring import Adapters

STATE = b'{"version": 4, "serial": %d, "lineage": "%s", "outputs": {}, "resources": []}'


def samples(client: TestClient, **auth: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, by name and labels."""
    response = client.get("/metrics", headers=auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template(client: TestClient) -> None:
    """Requests count by template, method and status; no unit ID becomes a label."""
    for unit in ("team-a/prod", "team-b/prod", "team-c/dev"):
        client.get(f"/v1/units/{unit}/versions")
        client.put(f"/v1/backend/{unit}", content=STATE % (1, b"l"))
    client.get("/v1/units/team-a/prod/versions")
    found = samples(client)
    assert (
        value(
            found,
            "opentaco_http_requests_total",
            route="/v1/units/{id}/versions",
            method="GET",
            status="404",
        )
        == 3
    )
    assert (
        value(
            found,
            "opentaco_http_requests_total",
            route="/v1/units/{id}/versions",
            method="GET",
            status="200",
        )
        == 1
    )
    assert (
        value(
            found,
            "opentaco_http_requests_total",
            route="/v1/backend/{unit_id}",
            method="PUT",
            status="200",
        )
        == 3
    )
    assert (
        value(
            found,
            "opentaco_http_request_duration_seconds_count",
            route="/v1/backend/{unit_id}",
            method="PUT",
        )
        == 3
    )
    text = client.get("/metrics").text
    assert "team-a" not in text and "prod" not in text


def test_other_surfaces_count_by_template_too(settings: Settings) -> None:
    """The S3 endpoint, the Terraform-Cloud-compatible API (under both
    prefixes), the internal API and the graph views count by template: no
    bucket key, organization, workspace or unit ID becomes a label. Their
    stores are metered like the others."""
    settings = attrs.evolve(settings, internal_endpoints_secret="s3cret")
    internal = {"Authorization": "Bearer s3cret", "X-User-ID": "alice", "X-Org-ID": "acme-org"}
    with TestClient(create_app(settings)) as client:
        made = client.post("/internal/api/orgs", headers=internal, json={"name": "acme-org"})
        assert made.status_code == 201, made.text
        for team in ("team-a", "team-b"):
            client.get(f"/s3/opentaco/{team}/prod/terraform.tfstate")
            client.get(f"/api/v2/organizations/acme-org/workspaces/{team}-ws")
            client.get(f"/tfe/api/v2/workspaces/ws-{team}")
            client.get(f"/api/v2/no-such/{team}")
            client.get(f"/v1/units/{team}/prod/status")
            client.get("/v1/status", params={"prefix": team})
            client.get("/v1/graph", params={"unit": f"{team}/prod"})
            client.get(f"/internal/api/units/acme-org/{team}/status", headers=internal)
            client.get(f"/internal/api/units/acme-org/{team}")
        found = samples(client)
        text = client.get("/metrics").text
    routes = {
        dict(labels)["route"] for name, labels in found if name == "opentaco_http_requests_total"
    }
    assert {
        "/s3/{path}",
        "/api/v2/organizations/{org}/workspaces/{name}",
        "/tfe/api/v2/workspaces/{ws_id}",
        "/api/v2/{rest}",
        "/v1/units/{id}/status",
        "/v1/status",
        "/v1/graph",
        "/internal/api/units/{id}/status",
        "/internal/api/units/{rest}",
    } <= routes, routes
    for word in ("team-", "acme", "prod", "alice"):
        assert word not in text
    # The directory's storage calls are named apart from the RBAC policy's.
    directory_saves = value(
        found,
        "opentaco_storage_operation_duration_seconds_count",
        storage="sqlite",
        operation="directory_save",
    )
    assert directory_saves == 1


def test_unknown_methods_and_paths_do_not_grow_series(client: TestClient) -> None:
    """Methods outside the known set count as 'other', unknown paths as 'unmatched'."""
    client.request("BREW", "/v1/units")
    client.get("/no/such/path/12345")
    found = samples(client)
    assert (
        value(
            found, "opentaco_http_requests_total", route="/v1/units", method="other", status="405"
        )
        == 1
    )
    assert (
        value(found, "opentaco_http_requests_total", route="unmatched", method="GET", status="404")
        == 1
    )


def test_domain_events_feed_the_counters(client: TestClient) -> None:
    """Commits by storage and surface, quarantined writes, lock conflicts and
    the time a LOCK waited for a unit held by someone else; every commit
    (quarantined ones too) is timed."""
    client.put("/v1/backend/app/prod", content=STATE % (1, b"l"))
    client.post("/v1/units/app/prod/upload", content=STATE % (2, b"l"))
    assert (
        client.post("/v1/units/app/prod/upload", content=STATE % (9, b"other")).status_code == 409
    )
    assert client.request("LOCK", "/v1/backend/app/prod", json={"ID": "A"}).status_code == 200
    assert client.request("LOCK", "/v1/backend/app/prod", json={"ID": "B"}).status_code == 423
    assert client.put("/v1/backend/app/prod", content=STATE % (3, b"l")).status_code == 423
    assert client.request("UNLOCK", "/v1/backend/app/prod", json={"ID": "A"}).status_code == 200
    assert client.request("LOCK", "/v1/backend/app/prod", json={"ID": "B"}).status_code == 200
    assert client.request("UNLOCK", "/v1/backend/app/prod", content=b"").status_code == 200
    found = samples(client)
    assert value(found, "opentaco_state_commits_total", storage="sqlite", surface="backend") == 1
    assert value(found, "opentaco_state_commits_total", storage="sqlite", surface="api") == 1
    assert value(found, "opentaco_writes_quarantined_total", storage="sqlite") == 1
    assert value(found, "opentaco_lock_conflicts_total", operation="lock") == 1
    assert value(found, "opentaco_lock_conflicts_total", operation="write") == 1
    assert value(found, "opentaco_locks_acquired_total") == 2
    assert value(found, "opentaco_locks_released_total", forced="false") == 1
    assert value(found, "opentaco_locks_released_total", forced="true") == 1
    assert value(found, "opentaco_lock_wait_seconds_count") == 1
    assert (
        value(
            found,
            "opentaco_storage_operation_duration_seconds_count",
            storage="sqlite",
            operation="commit",
        )
        == 3
    )


def test_storage_failures_are_counted_by_operation() -> None:
    """A storage call that fails counts under its storage and operation."""

    class Broken(MemoryStateStore):
        async def ping(self) -> None:
            raise StorageUnavailable("S3 HeadBucket failed: connection refused")

    adapters = Adapters(
        states=Broken(), auth=MemoryAuthStore(), rbac=MemoryRbacStore(), clock=SystemClock()
    )
    app = create_app(Settings(storage="s3", s3_bucket="b", auth_disable=True), adapters=adapters)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503
        found = samples(client)
    assert value(found, "opentaco_storage_errors_total", storage="s3", operation="ping") == 1


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"x:{token}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("", "missing"),
        ("Bearer otc_nope", "api_token"),
        (basic("otc_nope"), "api_token"),
        ("Bearer otr_nope", "refresh_token"),
        ("Bearer a.b.c", "access_token"),
        ("Bearer what", "malformed"),
        ("Basic !!!", "malformed"),
        ("Digest x", "malformed"),
    ],
)
def test_a_credential_is_classified_by_its_shape(header: str, kind: str) -> None:
    """Refused credentials are told apart by shape alone, never by a lookup."""
    assert credential_kind(header) == kind


def test_refused_credentials_count_by_kind_and_metrics_stay_public(tmp_path: Path) -> None:
    """With auth on, /metrics needs no credential (default), and 401s and
    403s count by the kind of credential."""
    settings = Settings(storage="memory", admin_token_path=tmp_path / "admin-token")
    with TestClient(create_app(settings)) as client:
        client.get("/v1/units")
        client.get("/v1/units", headers={"Authorization": "Bearer otc_wrong"})
        client.post("/v1/auth/token", json={"refresh_token": "otr_wrong"})
        found = samples(client)
    assert value(found, "opentaco_auth_failures_total", kind="missing") == 1
    assert value(found, "opentaco_auth_failures_total", kind="api_token") == 1
    assert value(found, "opentaco_auth_failures_total", kind="refresh_token") == 1


def test_forbidden_answers_count_too(client: TestClient) -> None:
    """A 403 counts as kind 'forbidden'."""
    assert client.post("/v1/auth/tokens", json={"name": "x"}).status_code == 403
    assert value(samples(client), "opentaco_auth_failures_total", kind="forbidden") == 1


def test_metrics_behind_a_credential_or_off(tmp_path: Path) -> None:
    """OPENTACO_METRICS=auth asks for a credential, any valid one: a scraper's
    token for a subject with no role reads them; off answers 404."""
    token_file = tmp_path / "admin-token"
    settings = Settings(storage="memory", admin_token_path=token_file, metrics="auth")
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 401
        admin = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        made = client.post(
            "/v1/auth/tokens", json={"name": "scraper", "subject": "prometheus"}, headers=admin
        )
        assert made.status_code == 201, made.text
        scraper = f"Bearer {made.json()['token']}"
        assert client.get("/v1/units", headers={"Authorization": scraper}).json()["units"] == []
        assert samples(client, Authorization=scraper)
    with TestClient(create_app(Settings(storage="memory", metrics="off"))) as client:
        assert client.get("/metrics").status_code == 404


def test_dropped_connections_are_reported_by_reason() -> None:
    """What the connection guard counts (open connections, drops by reason,
    failed accepts) is reported at every scrape, every reason present."""
    stats = ConnectionStats()
    stats.open = 3
    stats.dropped["too_many"] += 2
    stats.accept_failures = 5
    registry = CollectorRegistry()
    registry.register(ConnectionCollector(stats))
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert value(found, "opentaco_connections_open") == 3
    assert value(found, "opentaco_connections_dropped_total", reason="too_many") == 2
    for reason in ("header_timeout", "headers_too_large", "body_stalled"):
        key = ("opentaco_connections_dropped_total", frozenset({("reason", reason)}))
        assert found[key] == 0
    assert value(found, "opentaco_accept_failures_total") == 5
