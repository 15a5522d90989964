"""The Terraform-Cloud-compatible API over HTTP, in process: every route,
the shapes Terraform reads, the errors it prints, and hostile input, which
must never get a 5xx (go-tfe retries those for minutes)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters
from tests.unit.graph_states import edge_resource, encode, graph_state

JSONAPI = "application/vnd.api+json"
ORG = "acme"


def tfstate(serial: int, lineage: str = "lin-1", greeting: str = "hi") -> bytes:
    doc = {
        "version": 4,
        "terraform_version": "1.15.5",
        "serial": serial,
        "lineage": lineage,
        "outputs": {
            "greeting": {"value": greeting, "type": "string"},
            "secret": {"value": "s3cr3t", "type": "string", "sensitive": True},
            "shape": {"value": {"a": 1}, "type": ["object", {"a": "number"}]},
        },
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def jsonapi(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "state-versions", "attributes": attributes}}


class Api:
    """A TestClient speaking as Terraform with one token."""

    def __init__(self, client: TestClient, token: str, prefix: str = "/api/v2") -> None:
        self.client = client
        self.token = token
        self.prefix = prefix

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token or self.token}",
            "Content-Type": JSONAPI,
            "Accept": JSONAPI,
            "Terraform-Version": "1.15.5",
        }

    def __call__(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> Any:
        """``path`` under the API prefix, unless it is absolute already."""
        url = path
        if not path.startswith(("/api/", "/tfe/", "/v1/", "/.well-known", "/oauth", "/app")):
            url = self.prefix + path
        return self.client.request(method, url, headers=self.headers(token), **kw)

    def create(self, name: str, **data: Any) -> dict[str, Any]:
        body = {"data": {"type": "workspaces", "attributes": {"name": name}, **data}}
        reply = self("POST", f"/organizations/{ORG}/workspaces", json=body)
        assert reply.status_code == 201, reply.text
        created: dict[str, Any] = reply.json()["data"]
        return created

    def write(self, ws_id: str, data: bytes, token: str | None = None, **extra: Any) -> Any:
        attributes = {
            "serial": json.loads(data)["serial"],
            "lineage": json.loads(data)["lineage"],
            "md5": md5(data),
            "state": base64.b64encode(data).decode(),
            "force": False,
            **extra,
        }
        return self(
            "POST", f"/workspaces/{ws_id}/state-versions", token=token, json=jsonapi(**attributes)
        )


def start(settings: Settings, clock: ManualClock | None = None) -> TestClient:
    adapters = Adapters(
        states=MemoryStateStore(),
        auth=MemoryAuthStore(),
        rbac=MemoryRbacStore(),
        clock=clock or ManualClock(),
    )
    return TestClient(create_app(settings, adapters=adapters), base_url="https://testserver")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[TestClient]:
    settings = Settings(storage="memory", admin_token_path=tmp_path / "admin-token")
    with start(settings, clock) as c:
        yield c


@pytest.fixture
def api(client: TestClient, tmp_path: Path) -> Api:
    return Api(client, (tmp_path / "admin-token").read_text().strip())


@pytest.fixture
def other(api: Api) -> str:
    """A second API token (another lock owner)."""
    reply = api("POST", "/v1/auth/tokens", json={"name": "other"})
    assert reply.status_code == 201, reply.text
    token: str = reply.json()["token"]
    return token


def errors_of(reply: Any) -> list[dict[str, str]]:
    """The JSON:API errors of a reply, checking the shape Terraform prints."""
    assert reply.headers["content-type"].startswith(JSONAPI), reply.headers
    errors: list[dict[str, str]] = reply.json()["errors"]
    assert errors and all({"status", "title", "detail"} <= set(e) for e in errors)
    assert errors[0]["status"] == str(reply.status_code)
    return errors


# -- discovery and ping -----------------------------------------------------------------


def test_discovery_is_public_json_and_offers_login_only_with_oidc(client: TestClient) -> None:
    """The discovery document is application/json without credentials; with
    no OIDC provider it offers no login.v1."""
    reply = client.get("/.well-known/terraform.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    doc = reply.json()
    assert {doc[k] for k in ("tfe.v2", "tfe.v2.1", "tfe.v2.2", "state.v2")} == {"/api/v2/"}
    assert doc["motd.v1"] == "/api/terraform/motd"
    assert "login.v1" not in doc
    assert client.get("/api/terraform/motd").json()["msg"]
    assert "taco token create" in client.get("/app/settings/tokens").text


@pytest.mark.parametrize("prefix", ["/api/v2", "/tfe/api/v2"])
def test_ping_answers_the_api_version_without_credentials(client: TestClient, prefix: str) -> None:
    """Terraform's cloud block needs TFP-API-Version >= 2.5 on the ping."""
    reply = client.get(f"{prefix}/ping")
    assert reply.status_code == 204
    assert reply.headers["tfp-api-version"] == "2.5"


def test_the_api_needs_a_token_and_refuses_foreign_ones(client: TestClient) -> None:
    """No token, a made-up API token, a forged JWT: 401 in JSON:API shape."""
    path = f"/api/v2/organizations/{ORG}/entitlement-set"
    for headers in (
        {},
        {"Authorization": "Bearer otc_not-a-real-token"},
        {"Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.e30.forged"},
        {"Authorization": "Token something"},
    ):
        reply = client.get(path, headers=headers)
        assert reply.status_code == 401
        errors_of(reply)


# -- organizations ------------------------------------------------------------------------


def test_entitlements_say_state_storage_and_local_runs(api: Api) -> None:
    """Every valid organization name exists; operations false keeps runs local."""
    reply = api("GET", f"/organizations/{ORG}/entitlement-set")
    attributes = reply.json()["data"]["attributes"]
    assert (attributes["operations"], attributes["state-storage"]) == (False, True)
    assert reply.headers["content-type"].startswith(JSONAPI)
    assert api("GET", "/organizations/no%2Fslash/entitlement-set").status_code == 404
    assert api("GET", "/organizations/a__b/entitlement-set").status_code == 404


def test_account_details_and_organizations(api: Api) -> None:
    """account/details names the caller; organizations shows a namespace."""
    user = api("GET", "/account/details").json()["data"]
    assert user["type"] == "users" and user["attributes"]["username"] == "admin"
    assert user["id"].startswith("user-")
    org = api("GET", f"/organizations/{ORG}").json()["data"]
    assert (org["id"], org["attributes"]["name"]) == (ORG, ORG)
    listed = api("GET", "/organizations").json()
    assert listed["data"] == [] and listed["meta"]["pagination"]["total-count"] == 0


# -- workspaces ----------------------------------------------------------------------------


def test_a_workspace_is_a_unit(api: Api) -> None:
    """Creating workspace W of O creates unit O/W; it shows by name and by ID,
    local, echoing the client's Terraform version, with permissions and tags."""
    ws = api.create(
        "web",
        relationships={
            "tags": {"data": [{"type": "tags", "attributes": {"name": "app"}}]},
            "tag-bindings": {
                "data": [{"type": "tag-bindings", "attributes": {"key": "tier", "value": "1"}}]
            },
        },
    )
    assert ws["id"] == "ws-4-acme-web"
    attributes = ws["attributes"]
    assert attributes["execution-mode"] == "local" and attributes["operations"] is False
    assert attributes["terraform-version"] == "1.15.5"
    assert attributes["tag-names"] == ["app", "tier"]
    assert attributes["permissions"]["can-force-delete"] is True
    assert attributes["locked"] is False
    unit = api("GET", f"/v1/units/{ORG}/web").json()
    assert unit["labels"] == {"app": "", "tier": "1"}
    by_name = api("GET", f"/organizations/{ORG}/workspaces/web").json()["data"]
    by_id = api("GET", "/workspaces/ws-4-acme-web").json()["data"]
    assert by_name == by_id
    duplicate = api(
        "POST", f"/organizations/{ORG}/workspaces", json={"data": {"attributes": {"name": "web"}}}
    )
    assert duplicate.status_code == 409
    errors_of(duplicate)


def test_workspaces_list_by_name_tags_and_pages(api: Api) -> None:
    """search[name] matches part of the name, search[tags] needs every tag,
    filter[tagged] matches key and value; pages follow page[size]."""
    tagged = {"tags": {"data": [{"type": "tags", "attributes": {"name": "app"}}]}}
    api.create("app-dev", relationships=tagged)
    api.create("app-prod")
    api.create("other")
    api("POST", "/v1/units", json={"id": f"{ORG}/deep/unit"})

    def names(query: str) -> list[str]:
        reply = api("GET", f"/organizations/{ORG}/workspaces?{query}")
        assert reply.status_code == 200, reply.text
        return [w["attributes"]["name"] for w in reply.json()["data"]]

    assert names("") == ["app-dev", "app-prod", "other"]
    assert names("include=&search%5Bname%5D=app-") == ["app-dev", "app-prod"]
    assert names("search%5Btags%5D=app") == ["app-dev"]
    assert names("search%5Btags%5D=app%2Cmissing") == []
    assert names(
        "filter%5Btagged%5D%5B0%5D%5Bkey%5D=app&filter%5Btagged%5D%5B0%5D%5Bvalue%5D="
    ) == ["app-dev"]
    page = api("GET", f"/organizations/{ORG}/workspaces?page%5Bsize%5D=2&page%5Bnumber%5D=2")
    assert [w["attributes"]["name"] for w in page.json()["data"]] == ["other"]
    assert page.json()["meta"]["pagination"] == {
        "current-page": 2,
        "page-size": 2,
        "prev-page": 1,
        "next-page": None,
        "total-pages": 2,
        "total-count": 3,
    }
    assert api("GET", f"/organizations/{ORG}/workspaces?page%5Bsize%5D=0").status_code == 422


def test_updates_stay_local_and_keep_the_name(api: Api) -> None:
    """PATCH accepts a Terraform version; a remote execution mode or a new
    name is 422 with a reason."""
    api.create("w")
    ok = api(
        "PATCH",
        "/workspaces/ws-4-acme-w",
        json={"data": {"attributes": {"terraform-version": "1.15.5"}}},
    )
    assert ok.status_code == 200, ok.text
    for attributes in ({"execution-mode": "remote"}, {"operations": True}, {"name": "renamed"}):
        refused = api(
            "PATCH", f"/organizations/{ORG}/workspaces/w", json={"data": {"attributes": attributes}}
        )
        assert refused.status_code == 422, attributes
        errors_of(refused)


def test_deleting_a_workspace_soft_deletes_its_unit(api: Api) -> None:
    """DELETE and safe-delete hide the unit (recoverable); a locked one is 409."""
    api.create("gone")
    api.create("safe")
    api("POST", "/workspaces/ws-4-acme-safe/actions/lock", json={})
    assert (
        api("POST", f"/organizations/{ORG}/workspaces/safe/actions/safe-delete").status_code == 409
    )
    api("POST", "/workspaces/ws-4-acme-safe/actions/unlock")
    assert api("DELETE", f"/organizations/{ORG}/workspaces/gone").status_code == 204
    assert api("POST", "/workspaces/ws-4-acme-safe/actions/safe-delete").status_code == 204
    missing = api("GET", f"/organizations/{ORG}/workspaces/gone")
    assert missing.status_code == 404
    errors_of(missing)
    deleted = api("GET", "/v1/units?deleted=true").json()["units"]
    assert sorted(u["id"] for u in deleted) == [f"{ORG}/gone", f"{ORG}/safe"]


def test_locks_belong_to_the_token_that_took_them(api: Api, other: str) -> None:
    """Lock twice is 409; only the holder unlocks (others 409); force-unlock
    frees anyone's; unlocking an unlocked workspace is 409."""
    api.create("l")
    ws = "/workspaces/ws-4-acme-l"
    locked = api("POST", f"{ws}/actions/lock", json={"reason": "Locked by Terraform"})
    assert locked.status_code == 200 and locked.json()["data"]["attributes"]["locked"] is True
    assert api("POST", f"{ws}/actions/lock", json={}).status_code == 409
    refused = api("POST", f"{ws}/actions/unlock", token=other)
    assert refused.status_code == 409
    assert "locked" in errors_of(refused)[0]["detail"]
    assert api("POST", f"{ws}/actions/unlock").status_code == 200
    assert api("POST", f"{ws}/actions/unlock").status_code == 409
    assert api("POST", f"{ws}/actions/lock", json={}).status_code == 200
    freed = api("POST", f"{ws}/actions/force-unlock", token=other)
    assert freed.status_code == 200 and freed.json()["data"]["attributes"]["locked"] is False
    assert api("POST", f"{ws}/actions/force-unlock").status_code == 409
    lock = api("GET", f"/v1/units/{ORG}/l").json()["lock"]
    assert lock is None


def test_tags_are_labels_both_ways(api: Api) -> None:
    """tag-bindings PATCH adds or updates; the older tags POST adds names
    (keeping values); DELETE removes; reads show the labels."""
    api.create("t")
    ws = "/workspaces/ws-4-acme-t"
    patched = api(
        "PATCH",
        f"{ws}/tag-bindings",
        json={"data": [{"type": "tag-bindings", "attributes": {"key": "app", "value": "billing"}}]},
    )
    assert patched.json()["data"] == [
        {"type": "tag-bindings", "attributes": {"key": "app", "value": "billing"}}
    ]
    names = {
        "data": [
            {"type": "tags", "attributes": {"name": "app"}},
            {"type": "tags", "attributes": {"name": "team-x"}},
        ]
    }
    assert api("POST", f"{ws}/relationships/tags", json=names).status_code == 204
    assert api("GET", f"/v1/units/{ORG}/t").json()["labels"] == {"app": "billing", "team-x": ""}
    listed = api("GET", f"{ws}/relationships/tags").json()["data"]
    assert [t["attributes"]["name"] for t in listed] == ["app", "team-x"]
    assert (
        api("GET", f"{ws}/effective-tag-bindings").json() == api("GET", f"{ws}/tag-bindings").json()
    )
    one = {"data": [{"type": "tags", "attributes": {"name": "app"}}]}
    assert api("DELETE", f"{ws}/relationships/tags", json=one).status_code == 204
    assert api("GET", f"/v1/units/{ORG}/t").json()["labels"] == {"team-x": ""}
    bad = {"data": [{"type": "tags", "attributes": {"name": "has space"}}]}
    assert api("POST", f"{ws}/relationships/tags", json=bad).status_code == 422


# -- state versions --------------------------------------------------------------------------


def test_an_inline_state_version_is_checked_and_stored(api: Api) -> None:
    """md5, serial and lineage must match the bytes (422 otherwise, nothing
    stored); the version is then current, downloadable and listed."""
    api.create("s")
    ws = "ws-4-acme-s"
    data = tfstate(1)
    for extra, reason in (
        ({"md5": "0" * 32}, "MD5"),
        ({"serial": 2}, "serial"),
        ({"lineage": "other"}, "lineage"),
        ({"state": "!!not base64!!"}, "base64"),
        ({"md5": "xyz"}, "md5"),
    ):
        refused = api.write(ws, data, **extra)
        assert refused.status_code == 422, extra
        assert reason in errors_of(refused)[0]["detail"]
    assert api("GET", f"/workspaces/{ws}/current-state-version").status_code == 404
    assert api("GET", f"/workspaces/{ws}/current-state-version-outputs").json()["data"] == []

    created = api.write(ws, data)
    assert created.status_code == 201, created.text
    sv = created.json()["data"]
    assert sv["id"] == "sv-1-4-acme-s" and sv["attributes"]["serial"] == 1
    current = api("GET", f"/workspaces/{ws}/current-state-version").json()["data"]
    assert current["id"] == sv["id"]
    download = current["attributes"]["hosted-state-download-url"]
    assert download == "https://testserver/api/v2/state-versions/sv-1-4-acme-s/download"
    assert api("GET", urlsplit(download).path).content == data
    assert api("GET", f"/v1/backend/{ORG}/s").content == data
    listed = api(
        "GET",
        f"/state-versions?filter%5Borganization%5D%5Bname%5D={ORG}&filter%5Bworkspace%5D%5Bname%5D=s",
    )
    assert [v["id"] for v in listed.json()["data"]] == ["sv-1-4-acme-s"]
    history = api("GET", f"/v1/units/{ORG}/s/versions").json()["versions"]
    assert (history[0]["surface"], history[0]["author"]) == ("tfe", "admin")


def test_outputs_hide_sensitive_values_until_asked_one_by_one(api: Api) -> None:
    """The outputs list (one page, detailed types) nulls sensitive values;
    an output's own URL shows it."""
    api.create("o")
    api.write("ws-4-acme-o", tfstate(1))
    listed = api("GET", "/workspaces/ws-4-acme-o/current-state-version-outputs").json()
    by_name = {o["attributes"]["name"]: o for o in listed["data"]}
    assert by_name["greeting"]["attributes"]["value"] == "hi"
    assert by_name["secret"]["attributes"]["value"] is None
    assert by_name["secret"]["attributes"]["sensitive"] is True
    assert by_name["shape"]["attributes"]["detailed-type"] == ["object", {"a": "number"}]
    assert by_name["shape"]["attributes"]["type"] == "object"
    assert listed["meta"]["pagination"]["total-pages"] == 1
    secret = api("GET", f"/state-version-outputs/{by_name['secret']['id']}").json()["data"]
    assert secret["attributes"]["value"] == "s3cr3t"
    same = api("GET", "/state-versions/sv-1-4-acme-o/outputs").json()["data"]
    assert [o["id"] for o in same] == [o["id"] for o in listed["data"]]
    assert api("GET", "/state-version-outputs/wsout-1-4-nope-4-acme-o").status_code == 404


def test_writes_need_the_writers_own_lock(api: Api, other: str) -> None:
    """A workspace locked by another token refuses the write (409); the
    holder writes; without any lock the write goes through."""
    api.create("w")
    ws = "ws-4-acme-w"
    assert api.write(ws, tfstate(1)).status_code == 201
    api("POST", f"/workspaces/{ws}/actions/lock", json={}, token=other)
    refused = api.write(ws, tfstate(2))
    assert refused.status_code == 409
    errors_of(refused)
    assert api.write(ws, tfstate(2), token=other).status_code == 201
    api("POST", f"/workspaces/{ws}/actions/unlock", token=other)
    assert api.write(ws, tfstate(3)).status_code == 201


def test_the_lock_holders_push_passes_the_guard_and_is_noted(api: Api) -> None:
    """An older serial written under the writer's own lock is taken as forced
    (Terraform 1.15 sends force false on push -force) and noted; without a
    lock the guard refuses it (409)."""
    api.create("g")
    ws = "ws-4-acme-g"
    api.write(ws, tfstate(5))
    refused = api.write(ws, tfstate(3, greeting="older"))
    assert refused.status_code == 409
    api("POST", f"/workspaces/{ws}/actions/lock", json={})
    assert api.write(ws, tfstate(3, greeting="older")).status_code == 201
    latest = api("GET", f"/v1/units/{ORG}/g/versions").json()["versions"][0]
    assert (
        latest["note"]
        == "forced over the clobber guard: serial 3 is older than the current serial 5"
    )


def test_the_upload_url_flow(api: Api) -> None:
    """A create without the state answers absolute signed upload URLs; the
    two PUTs (no credentials, either order) store the state, after which the
    pending version's ID resolves to the stored one."""
    api.create("u")
    ws = "ws-4-acme-u"
    data = tfstate(1, greeting="uploaded")
    announced = api(
        "POST",
        f"/workspaces/{ws}/state-versions",
        json=jsonapi(serial=1, lineage="lin-1", md5=md5(data), force=False),
    )
    assert announced.status_code == 201, announced.text
    sv = announced.json()["data"]
    assert sv["attributes"]["status"] == "pending"
    raw_url = sv["attributes"]["hosted-state-upload-url"]
    json_url = sv["attributes"]["hosted-json-state-upload-url"]
    assert raw_url.startswith("https://testserver/api/v2/state-versions/sv-p")
    client = api.client

    def put(url: str, body: bytes) -> Any:
        parts = urlsplit(url)
        return client.put(f"{parts.path}?{parts.query}", content=body)

    assert put(json_url, b'{"format_version": "1.0"}').status_code == 200
    tampered = raw_url.replace("serial=1", "serial=2")
    assert put(tampered, data).status_code == 403
    assert put(raw_url.split("?")[0], data).status_code == 403
    assert put(raw_url.replace("/content?", "/json-content?"), data).status_code == 403
    assert put(raw_url, tfstate(1, greeting="other bytes")).status_code == 422
    assert put(raw_url, data).status_code == 200
    assert put(raw_url, data).status_code == 200
    shown = api("GET", f"/state-versions/{sv['id']}").json()["data"]
    assert shown["id"] == "sv-1-4-acme-u" and shown["attributes"]["status"] == "finalized"
    assert api("GET", f"/v1/backend/{ORG}/u").content == data
    assert len(api("GET", f"/v1/units/{ORG}/u/versions").json()["versions"]) == 1


def test_upload_urls_expire_and_die_with_their_token(
    api: Api, other: str, clock: ManualClock
) -> None:
    """A signed URL used after 5 minutes is 403; one whose token was revoked is 401."""
    api.create("e")
    data = tfstate(1)
    body = jsonapi(serial=1, lineage="lin-1", md5=md5(data))

    def announce(token: str | None = None) -> str:
        reply = api("POST", "/workspaces/ws-4-acme-e/state-versions", json=body, token=token)
        url: str = reply.json()["data"]["attributes"]["hosted-state-upload-url"]
        parts = urlsplit(url)
        return f"{parts.path}?{parts.query}"

    late = announce()
    clock.advance(301)
    assert api.client.put(late, content=data).status_code == 403
    revoked = announce(other)
    token_id = api("GET", "/v1/auth/me", token=other).json()["token_id"]
    assert api("DELETE", f"/v1/auth/tokens/{token_id}", token=other).status_code == 204
    assert api.client.put(revoked, content=data).status_code == 401


def test_an_announced_write_under_someone_elses_lock_is_refused_at_once(
    api: Api, other: str
) -> None:
    """The upload-URL create checks the lock before handing out URLs."""
    api.create("x")
    api("POST", "/workspaces/ws-4-acme-x/actions/lock", json={}, token=other)
    data = tfstate(1)
    refused = api(
        "POST",
        "/workspaces/ws-4-acme-x/state-versions",
        json=jsonapi(serial=1, lineage="lin-1", md5=md5(data)),
    )
    assert refused.status_code == 409


# -- the alias, URLs behind proxies -----------------------------------------------------------


def test_the_tfe_alias_hands_out_its_own_urls(client: TestClient, tmp_path: Path) -> None:
    """/tfe/api/v2 serves the same API, and its URLs stay under it."""
    alias = Api(client, (tmp_path / "admin-token").read_text().strip(), prefix="/tfe/api/v2")
    alias.create("alias")
    created = alias.write("ws-4-acme-alias", tfstate(1)).json()["data"]
    assert created["attributes"]["hosted-state-download-url"].startswith(
        "https://testserver/tfe/api/v2/state-versions/"
    )
    assert alias("GET", f"/organizations/{ORG}/workspaces/alias").status_code == 200


@pytest.mark.parametrize(
    ("settings", "headers", "base"),
    [
        (
            {},
            {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"},
            "https://testserver",
        ),
        (
            {"trust_proxy": True},
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "taco.example.com"},
            "https://taco.example.com",
        ),
        (
            {"public_base_url": "https://taco.example.org/"},
            {"X-Forwarded-Host": "evil.example"},
            "https://taco.example.org",
        ),
    ],
)
def test_handed_out_urls_follow_the_public_base_url(
    tmp_path: Path, settings: dict[str, Any], headers: dict[str, str], base: str
) -> None:
    """Forwarded headers count only with trust_proxy; the public base URL wins."""
    full = Settings(storage="memory", admin_token_path=tmp_path / "t", **settings)
    with start(full) as client:
        token = (tmp_path / "t").read_text().strip()
        api = Api(client, token)
        api.create("p")
        data = tfstate(1)
        reply = client.post(
            "/api/v2/workspaces/ws-4-acme-p/state-versions",
            headers={**api.headers(), **headers},
            json=jsonapi(serial=1, lineage="lin-1", md5=md5(data)),
        )
        url = reply.json()["data"]["attributes"]["hosted-state-upload-url"]
        assert url.startswith(f"{base}/api/v2/state-versions/"), url


# -- what is not supported ------------------------------------------------------------------


def test_remote_runs_are_refused_with_the_reason(api: Api) -> None:
    """Configuration versions and runs: 422 telling to use local execution."""
    api.create("r")
    for method, path in (
        ("POST", "/workspaces/ws-4-acme-r/configuration-versions"),
        ("POST", "/runs"),
    ):
        reply = api(method, path, json={"data": {"attributes": {"speculative": True}}})
        assert reply.status_code == 422
        error = errors_of(reply)[0]
        assert error["title"] == "remote execution is not supported"
        assert "local" in error["detail"]


def test_unknown_endpoints_are_404_and_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """Anything unknown under the API is a JSON:API 404, logged at WARNING."""
    with caplog.at_level(logging.WARNING, logger="opentaco.tfe"):
        reply = api("GET", "/workspaces/ws-4-acme-x/vars")
    assert reply.status_code == 404
    errors_of(reply)
    assert "TFE endpoint not implemented: GET /api/v2/workspaces/ws-4-acme-x/vars" in caplog.text


# -- authorization (RBAC on) -----------------------------------------------------------------


def token_for(api: Api, subject: str) -> str:
    """An API token for ``subject``, made by the admin (it holds no role yet)."""
    reply = api("POST", "/v1/auth/tokens", json={"name": f"t-{subject}", "subject": subject})
    assert reply.status_code == 201, reply.text
    token: str = reply.json()["token"]
    return token


def grant(api: Api, subject: str, role: str, actions: list[str], resources: list[str]) -> None:
    """A permission and a role, both ``role``, allowing ``actions`` on
    ``resources``; ``subject`` holds the role."""
    rules = [{"effect": "allow", "actions": actions, "resources": resources}]
    for path, body in (
        ("/v1/rbac/permissions", {"id": role, "rules": rules}),
        ("/v1/rbac/roles", {"id": role, "permissions": [role]}),
        ("/v1/rbac/users/assign", {"subject": subject, "role_id": role}),
    ):
        reply = api("POST", path, json=body)
        assert reply.status_code in (200, 201), reply.text


def refused(reply: Any, action: str) -> None:
    """A JSON:API 403 naming the action RBAC refused."""
    assert reply.status_code == 403, reply.text
    error = errors_of(reply)[0]
    assert error["title"] == "forbidden" and action in error["detail"], error


def test_without_access_an_organizations_states_stay_out_of_reach(api: Api) -> None:
    """A caller with no role on acme's units cannot see its workspaces, read
    or list its state versions, download or announce a state, or lock: each
    a JSON:API 403 naming the refused action, never a 5xx; the organization
    itself still answers (it is only a namespace)."""
    api.create("ws1")
    data = tfstate(1)
    assert api.write("ws-4-acme-ws1", data).status_code == 201
    bob = token_for(api, "bob")
    assert api("GET", f"/organizations/{ORG}/entitlement-set", token=bob).status_code == 200
    listed = api("GET", f"/organizations/{ORG}/workspaces", token=bob).json()
    assert listed["data"] == [] and listed["meta"]["pagination"]["total-count"] == 0
    for path in (
        f"/organizations/{ORG}/workspaces/ws1",
        "/workspaces/ws-4-acme-ws1",
        "/workspaces/ws-4-acme-ws1/current-state-version",
        "/workspaces/ws-4-acme-ws1/current-state-version-outputs",
        "/state-versions/sv-1-4-acme-ws1",
        "/state-versions/sv-1-4-acme-ws1/download",
        "/state-versions/sv-1-4-acme-ws1/outputs",
        "/state-version-outputs/wsout-1-6-secret-4-acme-ws1",
        f"/state-versions?filter[organization][name]={ORG}&filter[workspace][name]=ws1",
    ):
        refused(api("GET", path, token=bob), "on unit 'acme/ws1' is not allowed")
    # A missing workspace is refused the same way: no existence leaks.
    refused(api("GET", f"/organizations/{ORG}/workspaces/nope", token=bob), "acme/nope")
    announce = jsonapi(serial=2, lineage="lin-1", md5=md5(tfstate(2)))
    refused(api("POST", "/workspaces/ws-4-acme-ws1/state-versions", json=announce, token=bob), "")
    refused(api.write("ws-4-acme-ws1", tfstate(2), token=bob), "")
    refused(api("POST", "/workspaces/ws-4-acme-ws1/actions/lock", json={}, token=bob), "")
    body = {"data": {"type": "workspaces", "attributes": {"name": "mine"}}}
    refused(api("POST", f"/organizations/{ORG}/workspaces", json=body, token=bob), "unit.write")
    assert api("GET", "/v1/backend/acme/ws1").content == data


def test_an_outputs_reader_sees_outputs_only_and_writes_nothing(api: Api) -> None:
    """With unit.read_outputs on acme/*: the workspace is listed, the state
    downloads cut down to its non-sensitive outputs, the sensitive output is
    not served, and writes and locks stay refused."""
    api.create("ws1")
    assert api.write("ws-4-acme-ws1", tfstate(1)).status_code == 201
    reader = token_for(api, "rita")
    grant(api, "rita", "acme-outputs", ["unit.read_outputs"], [f"{ORG}/*"])
    listed = api("GET", f"/organizations/{ORG}/workspaces", token=reader).json()["data"]
    assert [w["attributes"]["name"] for w in listed] == ["ws1"]
    state = json.loads(api("GET", "/state-versions/sv-1-4-acme-ws1/download", token=reader).content)
    assert set(state["outputs"]) == {"greeting", "shape"} and state["resources"] == []
    outputs = api("GET", "/workspaces/ws-4-acme-ws1/current-state-version-outputs", token=reader)
    assert {o["attributes"]["name"] for o in outputs.json()["data"]} == {"greeting", "shape"}
    secret = api("GET", "/state-version-outputs/wsout-1-6-secret-4-acme-ws1", token=reader)
    assert secret.status_code == 404
    refused(api.write("ws-4-acme-ws1", tfstate(2), token=reader), "unit.write")
    refused(api("POST", "/workspaces/ws-4-acme-ws1/actions/lock", json={}, token=reader), "lock")


def test_an_organizations_creator_administers_its_units_only(tmp_path: Path) -> None:
    """Creating an organization through the internal API gives its creator a
    role on <org>/* and nothing else: through /api/v2 they create, write and
    read workspaces there, are refused elsewhere, and the organization shows
    in their list."""
    settings = Settings(
        storage="memory",
        admin_token_path=tmp_path / "t",
        internal_endpoints_secret="statesman-secret",
    )
    with start(settings) as client:
        api = Api(client, (tmp_path / "t").read_text().strip())
        created = client.post(
            "/internal/api/orgs",
            headers={"Authorization": "Bearer statesman-secret", "X-User-ID": "carol"},
            json={"name": "beta", "display_name": "Beta"},
        )
        assert created.status_code == 201, created.text
        carol = token_for(api, "carol")
        body = {"data": {"type": "workspaces", "attributes": {"name": "app"}}}
        made = api("POST", "/organizations/beta/workspaces", json=body, token=carol)
        assert made.status_code == 201, made.text
        assert api.write("ws-4-beta-app", tfstate(1), token=carol).status_code == 201
        state = api("GET", "/state-versions/sv-1-4-beta-app/download", token=carol)
        assert json.loads(state.content)["outputs"]["secret"]["value"] == "s3cr3t"
        refused(api("POST", f"/organizations/{ORG}/workspaces", json=body, token=carol), "write")
        orgs = api("GET", "/organizations", token=carol).json()["data"]
        assert [o["attributes"]["name"] for o in orgs] == ["beta"]
        assert api("GET", "/organizations", token=token_for(api, "dave")).json()["data"] == []


def test_a_role_revoked_after_the_announce_refuses_the_upload(api: Api) -> None:
    """Upload URLs carry the caller, not a permission: the PUT is decided
    again, so a writer whose role went meanwhile stores nothing."""
    api.create("late")
    writer = token_for(api, "wes")
    grant(api, "wes", "late-writer", ["unit.read", "unit.write"], [f"{ORG}/late"])
    data = tfstate(1)
    announced = api(
        "POST",
        "/workspaces/ws-4-acme-late/state-versions",
        json=jsonapi(serial=1, lineage="lin-1", md5=md5(data)),
        token=writer,
    )
    assert announced.status_code == 201, announced.text
    url = urlsplit(announced.json()["data"]["attributes"]["hosted-state-upload-url"])
    revoke = {"subject": "wes", "role_id": "late-writer"}
    assert api("POST", "/v1/rbac/users/revoke", json=revoke).status_code == 200
    reply = api.client.put(f"{url.path}?{url.query}", content=data)
    assert reply.status_code == 403 and "acme/late" in errors_of(reply)[0]["detail"]
    assert api("GET", "/workspaces/ws-4-acme-late/current-state-version").status_code == 404


# -- hostile input ----------------------------------------------------------------------------

PATHS = [
    "/ping",
    "/account/details",
    f"/organizations/{ORG}",
    f"/organizations/{ORG}/entitlement-set",
    f"/organizations/{ORG}/workspaces",
    f"/organizations/{ORG}/workspaces/h",
    "/workspaces/ws-4-acme-h",
    "/workspaces/ws-4-acme-h/actions/lock",
    "/workspaces/ws-4-acme-h/actions/unlock",
    "/workspaces/ws-4-acme-h/actions/force-unlock",
    "/workspaces/ws-4-acme-h/tag-bindings",
    "/workspaces/ws-4-acme-h/relationships/tags",
    "/workspaces/ws-4-acme-h/state-versions",
    "/workspaces/ws-4-acme-h/current-state-version",
    "/workspaces/ws-4-acme-h/current-state-version-outputs",
    "/state-versions",
    "/state-versions/sv-1-4-acme-h",
    "/state-versions/sv-1-4-acme-h/download",
    "/state-versions/sv-1-4-acme-h/outputs",
    "/state-versions/sv-p00000000000000000000000000000000-4-acme-h/content",
    "/state-versions/sv-p00000000000000000000000000000000-4-acme-h/json-content",
    "/state-version-outputs/wsout-1-1-x-4-acme-h",
    "/workspaces/garbage",
    "/workspaces/ws-4-acme-h%00/actions/lock",
    "/organizations/%2e%2e/workspaces",
]
BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"{",
    b'{"data": null}',
    b'{"data": []}',
    b'{"data": {"attributes": null}}',
    b'{"data": {"attributes": {"name": 5, "serial": "1", "md5": [], "state": {}}}}',
    b'{"data": {"attributes": {"serial": -1, "md5": "' + b"a" * 32 + b'", "state": "e30="}}}',
    b'{"data": [{"attributes": {"key": null}}]}',
    b"[" * 50_000,
    b'{"data": ' * 5_000 + b"1" + b"}" * 5_000,
    b"\xff\xfe\x00garbage",
]


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "LOCK", "PROPFIND"]
)
def test_odd_methods_never_get_a_5xx(api: Api, method: str) -> None:
    """Every path with every method answers below 500, errors in JSON:API."""
    api.create("h")
    for path in PATHS:
        reply = api(method, path, content=b"{}")
        assert reply.status_code < 500, (method, path, reply.text)
        if reply.status_code >= 400 and method != "HEAD" and reply.content:
            assert "errors" in reply.json(), (method, path, reply.text)


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_hostile_bodies_never_get_a_5xx(api: Api, body: bytes) -> None:
    """Null, wrong types, truncated, huge nesting, not UTF-8: 4xx, never 5xx."""
    api.create("h")
    for method, path in (
        ("POST", f"/organizations/{ORG}/workspaces"),
        ("PATCH", "/workspaces/ws-4-acme-h"),
        ("POST", "/workspaces/ws-4-acme-h/actions/lock"),
        ("PATCH", "/workspaces/ws-4-acme-h/tag-bindings"),
        ("POST", "/workspaces/ws-4-acme-h/relationships/tags"),
        ("DELETE", "/workspaces/ws-4-acme-h/relationships/tags"),
        ("POST", "/workspaces/ws-4-acme-h/state-versions"),
    ):
        reply = api(method, path, content=body)
        assert reply.status_code < 500, (method, path, reply.text)
    api("POST", "/workspaces/ws-4-acme-h/actions/force-unlock")


def test_an_oversized_state_version_is_413(tmp_path: Path) -> None:
    """A create larger than the state limit allows is refused before parsing."""
    settings = Settings(storage="memory", admin_token_path=tmp_path / "t", max_state_bytes=1000)
    with start(settings) as client:
        api = Api(client, (tmp_path / "t").read_text().strip())
        api.create("big")
        # The create body may hold the state base64 twice, plus slack.
        reply = api("POST", "/workspaces/ws-4-acme-big/state-versions", content=b" " * 80_000)
        assert reply.status_code == 413
        big = tfstate(1) + b" " * 2000
        inline = api.write("ws-4-acme-big", big)
        assert inline.status_code == 413


def test_a_state_version_posted_by_terraform_updates_the_dependency_graph(api: Api) -> None:
    """A state version is a write like any other: the unit consuming one of the
    workspace's outputs turns red when that output changes, and green again once
    it has been applied."""
    api.create("net")
    assert api.write("ws-4-acme-net", tfstate(1, greeting="one")).status_code == 201
    consumer = api("POST", f"/v1/backend/{ORG}/app", content=tfstate(1, lineage="app"))
    assert consumer.status_code == 200, consumer.text
    edges = graph_state(edge_resource("e0", f"{ORG}/net", "greeting", f"{ORG}/app"))
    declared = api("POST", "/v1/backend/__opentaco_system", content=encode(edges))
    assert declared.status_code == 200, declared.text
    assert api("GET", f"/v1/units/{ORG}/app/status").json()["status"] == "green"
    assert api.write("ws-4-acme-net", tfstate(2, greeting="two")).status_code == 201
    red = api("GET", f"/v1/units/{ORG}/app/status").json()
    assert (red["status"], red["offender"]) == ("red", f"{ORG}/net")
    reapplied = api("POST", f"/v1/backend/{ORG}/app", content=tfstate(2, lineage="app"))
    assert reapplied.status_code == 200, reapplied.text
    assert api("GET", f"/v1/units/{ORG}/app/status").json()["status"] == "green"
