"""The web UI in a real browser: Debian's Chromium driven by Playwright,
against a real ``opentacosvc`` with OIDC login through the real npm
``oidc-provider``, and states written by real Terraform 1.15.5.

One server, provider and browser serve the whole module. Each test opens its
own browser context (its own cookies). Screenshots of every page go to
``$TACO_UI_SCREENSHOTS`` (default: a temporary folder); ``docs/ui.md``
embeds the ones in ``docs/ui/``, refreshed with
``TACO_UI_SCREENSHOTS=docs/ui pytest tests/e2e/test_ui_browser.py``.

Chromium comes from Debian (``apt-get install chromium``), never from
``playwright install``; without it the tests fail with that command.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.oidc_provider import (
    REDIRECT_URI,
    NodeMissing,
    Pkce,
    Provider,
    authorize,
    running_provider,
    token_request,
)
from tests.e2e.terraform import (
    Terraform,
    TerraformMissing,
    backend_block,
    locate,
    terraform_waiting_for_approval,
    write_config,
)
from tests.servers import Server, free_port, start_server
from tests.unit.graph_states import edge_resource, encode, graph_state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# A unit with one resource whose attributes change with n, a public and a sensitive output.
APP_CONFIG = """\
variable "n" {
  default = 1
}

resource "terraform_data" "app" {
  input = { name = "app-${var.n}", replicas = var.n }
}

output "greeting" {
  value = "hello-${var.n}"
}

output "db_password" {
  value     = "pw-${var.n}-secret"
  sensitive = true
}
"""


@attrs.frozen
class World:
    """The running pieces and the credentials the tests use."""

    taco: Server
    provider: Provider
    terraform: Terraform
    admin_token: str
    viewer_token: str
    shots: Path
    workdir: Path

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = httpx.request(
            method,
            f"{self.taco.url}{path}",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            **kwargs,
        )
        assert reply.is_success, reply.text
        return reply.json() if reply.content else None

    def apply(self, unit: str, n: int) -> Path:
        """``terraform apply -var n=N`` of APP_CONFIG into ``unit``."""
        work = self.workdir / unit.replace("/", "_")
        if not (work / ".terraform").exists():
            write_config(work, backend_block(self.taco.url, unit), APP_CONFIG)
            self.terraform.run(*INIT, cwd=work)
        self.terraform.run(*APPLY, "-var", f"n={n}", cwd=work)
        return work


def _chromium() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=_chromium(), headless=True)
    try:
        yield launched
    finally:
        launched.close()


def _oidc_access_token(provider: Provider, taco: Server, login: str) -> str:
    """A headless login at the provider, exchanged at the server: our access token."""
    pkce = Pkce.new()
    redirect = authorize(provider, pkce, login)
    reply = token_request(provider, redirect["code"][0], pkce.verifier)
    assert reply.status_code == 200, reply.text
    exchanged = httpx.post(
        f"{taco.url}/v1/auth/exchange",
        json={"id_token": reply.json()["id_token"], "nonce": pkce.nonce},
    )
    assert exchanged.status_code == 200, exchanged.text
    return str(exchanged.json()["access_token"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The provider (allowing the UI's callback), the service with alice as
    admin, Terraform with alice's API token, and an outputs-only viewer."""
    base = tmp_path_factory.mktemp("ui")
    shots = Path(os.environ.get("TACO_UI_SCREENSHOTS") or base / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        terraform = locate("1.15.5", base / "terraform")
    except TerraformMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    port = free_port()
    callback = f"http://127.0.0.1:{port}/ui/auth/callback"
    try:
        with running_provider(base / "oidc", (REDIRECT_URI, callback)) as provider:
            env = {
                "OPENTACO_AUTH_ISSUER": provider.issuer,
                "OPENTACO_AUTH_CLIENT_ID": provider.client_id,
                "OPENTACO_RBAC_SUBJECT_ROLES": "alice=admin",
            }
            taco = start_server(base / "svc", port=port, env=env, auth_disable=False)
            try:
                yield _world(taco, provider, terraform, shots, base)
            finally:
                taco.stop()
    except NodeMissing as exc:
        pytest.fail(str(exc), pytrace=False)


def _world(
    taco: Server, provider: Provider, terraform: Terraform, shots: Path, base: Path
) -> World:
    access = _oidc_access_token(provider, taco, "alice")
    bearer = {"Authorization": f"Bearer {access}"}

    def call(method: str, path: str, body: dict[str, Any]) -> Any:
        reply = httpx.request(method, f"{taco.url}{path}", json=body, headers=bearer)
        assert reply.is_success, reply.text
        return reply.json()

    admin = call("POST", "/v1/auth/tokens", {"name": "ui-tests"})["token"]
    rule = {"effect": "allow", "actions": ["unit.read_outputs"], "resources": ["shop/*"]}
    call("POST", "/v1/rbac/permissions", {"id": "shop-outputs", "rules": [rule]})
    call("POST", "/v1/rbac/roles", {"id": "shop-viewer", "permissions": ["shop-outputs"]})
    call("POST", "/v1/rbac/users/assign", {"subject": "viewer", "role_id": "shop-viewer"})
    viewer = call("POST", "/v1/auth/tokens", {"name": "viewer", "subject": "viewer"})["token"]
    terraform = attrs.evolve(
        terraform,
        env={**terraform.env, "TF_HTTP_USERNAME": "opentaco", "TF_HTTP_PASSWORD": admin},
    )
    world = World(taco, provider, terraform, admin, viewer, shots, base / "work")
    world.apply("shop/network", 1)
    world.apply("shop/app", 1)
    world.apply("shop/app", 2)
    world.api("POST", "/v1/units", json={"id": "shop/cache", "labels": {"team": "payments"}})
    return world


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    try:
        yield made
    finally:
        made.close()


def shot(world: World, page: Page, name: str) -> None:
    """A screenshot of what the browser shows, for the docs and CI artifacts."""
    path = world.shots / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.read_bytes().startswith(b"\x89PNG"), path


def token_login(world: World, page: Page, token: str, start: str = "/ui/") -> None:
    page.goto(f"{world.taco.url}{start}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


# -- logging in --------------------------------------------------------------------


def test_token_login_and_browsing_units(world: World, context: BrowserContext) -> None:
    """A stranger lands on the login page; an API token signs in and the
    units list shows every unit, who wrote it, and filters by prefix and search."""
    page = context.new_page()
    page.goto(f"{world.taco.url}/")
    assert page.url.startswith(f"{world.taco.url}/ui/login")
    shot(world, page, "login")
    token_login(world, page, world.admin_token)
    assert page.url == f"{world.taco.url}/ui/"
    rows = page.locator("table.units tbody tr")
    listed = rows.locator("th").all_inner_texts()
    assert {"shop/app", "shop/cache", "shop/network"} <= set(listed)
    assert listed == sorted(listed)
    app_row = rows.filter(has_text="shop/app")
    assert "alice" in app_row.inner_text() and "Unlocked" in app_row.inner_text()
    shot(world, page, "units")
    page.get_by_label("Search IDs and labels").fill("payments")
    page.get_by_role("button", name="Show").click()
    assert rows.locator("th").all_inner_texts() == ["shop/cache"]
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("ID prefix").fill("shop/n")
    page.get_by_role("button", name="Show").click()
    assert rows.locator("th").all_inner_texts() == ["shop/network"]


def test_oidc_login_through_the_real_provider(world: World, context: BrowserContext) -> None:
    """The login button goes through the provider's login and consent
    (authorization code + PKCE) and back, signed in as alice, where the page was."""
    page = context.new_page()
    page.goto(f"{world.taco.url}/ui/deleted")
    page.get_by_role("link", name="Log in with your identity provider").click()
    assert page.url.startswith(world.provider.issuer)
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{world.taco.url}/ui/deleted")
    assert page.locator(".who .subject").inner_text() == "alice"
    # alice is an admin through OPENTACO_RBAC_SUBJECT_ROLES: the roles page is hers.
    page.get_by_role("link", name="Roles").click()
    page.wait_for_url(f"{world.taco.url}/ui/rbac")
    heading = page.get_by_role("heading", name="Who has which roles")
    heading.wait_for()
    assert heading.is_visible()
    shot(world, page, "rbac")
    page.get_by_role("button", name="Log out").click()
    assert page.url.startswith(f"{world.taco.url}/ui/login")
    assert "You are logged out." in page.inner_text("main")


# -- locks, history, diff, restore ---------------------------------------------------


def test_a_terraform_lock_is_shown_and_force_unlocked(
    world: World, context: BrowserContext
) -> None:
    """While a real apply waits for approval, the unit page shows Terraform's
    lock; force-unlock asks first, naming the holder, then breaks it."""
    work = world.apply("shop/locked", 1)
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/units/shop/locked")
    with terraform_waiting_for_approval(world.terraform, work, "-var", "n=2") as apply:
        held = world.api("GET", "/v1/units/shop/locked")["lock"]
        page.reload()
        lock = page.locator("section", has=page.get_by_role("heading", name="Lock"))
        assert held["who"] in lock.inner_text()
        assert "OperationTypeApply" in lock.inner_text()
        shot(world, page, "unit-locked")
        page.get_by_role("link", name="Force unlock…").click()
        assert held["who"] in page.inner_text("main") and held["id"] in page.inner_text("main")
        shot(world, page, "force-unlock")
        page.get_by_role("button", name=f"Break the lock held by {held['who']}").click()
        assert "is unlocked" in page.inner_text("main")
        assert world.api("GET", "/v1/units/shop/locked")["locked"] is False
        apply.communicate(b"no\n", timeout=60)


def test_diff_between_two_terraform_versions(world: World, context: BrowserContext) -> None:
    """The history lists both applies; comparing them shows the resource's
    changed attributes before and after and the outputs, the secret masked."""
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/history/shop/app")
    versions = page.locator("table.history tbody tr")
    assert versions.count() >= 2
    shot(world, page, "history")
    page.get_by_label("Compare from version 1").check()
    page.get_by_label("Compare to version 2").check()
    page.get_by_role("button", name="Compare").click()
    main = page.inner_text("main")
    assert "version 1 → 2" in main
    assert "terraform_data.app" in main
    row = page.locator("table.attributes tr", has=page.locator("code", has_text="input"))
    assert "app-1" in row.locator("td.before").inner_text()
    assert "app-2" in row.locator("td.after").inner_text()
    assert "hello-1" in main and "hello-2" in main
    assert "pw-1-secret" not in page.content() and "pw-2-secret" not in page.content()
    shot(world, page, "diff")


def test_restore_with_confirmation(world: World, context: BrowserContext) -> None:
    """Restore asks first, showing what would change, then makes version 1's
    content current as a new version that Terraform takes as newest."""
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/history/shop/app")
    page.get_by_role("link", name="Restore version 1").click()
    assert "hello-2" in page.inner_text("main") and "hello-1" in page.inner_text("main")
    shot(world, page, "restore")
    page.get_by_role("button", name="Restore version 1").click()
    assert re.search(r"Version 1 of shop/app restored as version \d+\.", page.inner_text("main"))
    state = httpx.get(
        f"{world.taco.url}/v1/backend/shop/app", auth=("opentaco", world.admin_token)
    ).json()
    assert state["outputs"]["greeting"]["value"] == "hello-1"
    plan = world.terraform.run(
        "plan", "-input=false", "-no-color", "-var", "n=1", "-detailed-exitcode",
        cwd=world.workdir / "shop_app", check=False,
    )  # fmt: skip
    assert plan.returncode == 0, plan.describe()  # the restored state is what n=1 makes


def test_unit_page_shows_outputs_masked_and_resources_grouped(
    world: World, context: BrowserContext
) -> None:
    """A full reader sees outputs (the sensitive one masked) and resources by module and type."""
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/units/shop/network")
    main = page.inner_text("main")
    assert "hello-1" in main and "pw-1-secret" not in page.content()
    assert "sensitive" in main
    assert "root module" in main and "terraform_data.app" in main
    shot(world, page, "unit")


def test_an_outputs_only_user_cannot_reach_resources(world: World, context: BrowserContext) -> None:
    """The viewer sees outputs only: no resources on the unit page, no
    comparing, and the diff page refused."""
    page = context.new_page()
    token_login(world, page, world.viewer_token, "/ui/units/shop/network")
    main = page.inner_text("main")
    assert "hello-1" in main
    assert "outputs only" in main
    assert "terraform_data" not in page.content()
    shot(world, page, "unit-outputs-only")
    page.goto(f"{world.taco.url}/ui/history/shop/network")
    assert page.get_by_role("button", name="Compare").count() == 0
    response = page.goto(f"{world.taco.url}/ui/diff/shop/network")
    assert response is not None and response.status == 403
    assert "terraform_data" not in page.content()


# -- deleted units, access test, defences, layout ------------------------------------------


def test_deleted_units_and_undelete(world: World, context: BrowserContext) -> None:
    """A deleted unit is listed under Deleted and comes back with Undelete."""
    world.api("POST", "/v1/units", json={"id": "shop/old"})
    world.api("DELETE", "/v1/units/shop/old")
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/deleted")
    shot(world, page, "deleted")
    page.get_by_role("button", name="Undelete shop/old").click()
    assert "Unit shop/old is back." in page.inner_text("main")
    assert world.api("GET", "/v1/units/shop/old")["id"] == "shop/old"


def test_rbac_test_form(world: World, context: BrowserContext) -> None:
    """The viewer tests their own access: outputs allowed, writing denied, with the reason."""
    page = context.new_page()
    token_login(world, page, world.viewer_token, "/ui/rbac/test")
    page.get_by_label("Action", exact=True).select_option("unit.read_outputs")
    page.get_by_label("Unit ID (or * for actions on no unit)").fill("shop/app")
    page.get_by_role("button", name="Test").click()
    assert "Allowed" in page.inner_text("#result-heading")
    shot(world, page, "rbac-test")
    page.get_by_label("Action", exact=True).select_option("unit.write")
    page.get_by_role("button", name="Test").click()
    assert "Denied" in page.inner_text("#result-heading")


def test_csrf_refused_without_the_token(world: World, context: BrowserContext) -> None:
    """A signed-in browser's POST without the form's token is refused (403);
    a form on another site cannot make it restore anything either."""
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/history/shop/app")
    before = world.api("GET", "/v1/units/shop/app/versions")["total"]
    forged = context.request.post(
        f"{world.taco.url}/ui/restore/shop/app", form={"version": "1"}, max_redirects=0
    )
    assert forged.status == 403 and "CSRF" in forged.text()
    page.set_content(
        f'<form method="post" action="{world.taco.url}/ui/restore/shop/app">'
        '<input name="version" value="1"><input name="csrf_token" value="guess">'
        '<button type="submit">Go</button></form>'
    )
    page.click("button")
    page.wait_for_load_state()
    assert page.url.startswith(f"{world.taco.url}/ui/restore/")
    assert "restored as" not in page.content()
    assert world.api("GET", "/v1/units/shop/app/versions")["total"] == before


def test_keyboard_and_phone_width(world: World, browser: Browser) -> None:
    """The first Tab reaches the skip link, which moves focus to the content;
    at phone width no page scrolls sideways."""
    phone = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    try:
        page = phone.new_page()
        token_login(world, page, world.admin_token)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        pages = ("/ui/", "/ui/units/shop/app", "/ui/history/shop/app", "/ui/diff/shop/app",
                 "/ui/graph", "/ui/audit", "/ui/rbac")  # fmt: skip
        for path in pages:
            page.goto(f"{world.taco.url}{path}")
            wide = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert wide <= 0, f"{path} scrolls sideways by {wide}px at phone width"
        page.goto(f"{world.taco.url}/ui/")
        shot(world, page, "units-phone")
    finally:
        phone.close()


# -- the dependency graph (last: it adds the graph unit and changes shop/network) --------


def test_a_red_unit_in_the_graph_after_an_upstream_change(
    world: World, context: BrowserContext
) -> None:
    """With shop/app depending on shop/network's output (and shop/frontend on
    shop/app's), a real apply that changes the network turns shop/app red
    (and shop/frontend yellow) in the picture, in the list and on its page."""
    world.apply("shop/frontend", 1)
    edges = [
        edge_resource("app", "shop/network", "greeting", "shop/app"),
        edge_resource("frontend", "shop/app", "greeting", "shop/frontend"),
    ]
    reply = httpx.post(
        f"{world.taco.url}/v1/backend/__opentaco_system",
        content=encode(graph_state(*edges, serial=1)),
        auth=("opentaco", world.admin_token),
    )
    assert reply.status_code == 200, reply.text
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/graph?prefix=shop/")
    node = page.locator('a.node[href="/ui/units/shop/app"]')
    assert "up to date" in (node.text_content() or "")
    world.apply("shop/network", 2)
    page.reload()
    assert "needs re-apply" in (node.text_content() or "")
    assert node.locator("rect").get_attribute("fill") == "#fee2e2"
    frontend = page.locator('a.node[href="/ui/units/shop/frontend"]')
    assert "might need re-apply" in (frontend.text_content() or "")
    shot(world, page, "graph")
    node.click()
    assert page.url == f"{world.taco.url}/ui/units/shop/app"
    deps = page.locator("section", has=page.get_by_role("heading", name="Dependencies"))
    assert "needs re-apply" in deps.inner_text() and "shop/network" in deps.inner_text()
    page.goto(f"{world.taco.url}/ui/")
    row = page.locator("table.units tbody tr").filter(has_text="shop/app")
    assert "needs re-apply" in row.inner_text()


def test_the_audit_trail(world: World, browser: Browser, context: BrowserContext) -> None:
    """What people do in the UI is in the audit trail, with the surface ui:
    here the outputs-only user's refused diff, read by the admin."""
    viewer = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    try:
        refused = viewer.new_page()
        token_login(world, refused, world.viewer_token, "/ui/diff/shop/network")
        assert "Not allowed" in refused.inner_text("main")
    finally:
        viewer.close()
    page = context.new_page()
    token_login(world, page, world.admin_token, "/ui/audit?subject=viewer&since=all")
    denied = page.locator("table.audit tbody tr").filter(has_text="access.denied")
    assert denied.count() >= 1
    assert "ui" in denied.last.inner_text() and "shop/network" in denied.last.inner_text()
    page.goto(f"{world.taco.url}/ui/audit?since=all")
    assert page.locator("table.audit tbody tr").filter(has_text="state.write").count() >= 3
    shot(world, page, "audit")
