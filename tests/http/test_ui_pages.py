"""What the web UI's pages show and do, in-process: the units list (prefix,
search, keyset pages, author, lock), a unit (outputs masked, resources
grouped, lock and force-unlock), history, the visual diff, restore, deleted
units, the RBAC pages, and that every page decides as the API does."""

from __future__ import annotations

import html
import re

import pytest

from taco_core.diff import MASK
from taco_http.ui import unit_views
from tests.http.ui_helpers import App, app, state

__all__ = ["app"]

UNIT = "team/app"


@pytest.fixture
def written(app: App) -> App:
    app.write(UNIT, state(1, input="a"))
    app.write(UNIT, state(2, input="b", extra="x"))
    return app


def ids_on(page: str) -> list[str]:
    return re.findall(
        r'<th scope="row" data-label="Unit"><a href="/ui/units/[^"]+">([^<]+)</a>', page
    )


def test_units_list_shows_size_update_author_and_lock(written: App) -> None:
    """A row names the unit, its size, who wrote it last and who holds its lock."""
    written.api("POST", f"/v1/units/{UNIT}/lock", {"ID": "l-1", "Who": "ci@runner"})
    written.api("POST", "/v1/units", {"id": "team/empty"}, status=201)
    page = written.browser(written.admin).get("/ui/").text
    assert ids_on(page) == ["team/app", "team/empty"]
    row = page[page.index("team/app</a>") : page.index("team/empty</a>")]
    assert "admin" in row and "Locked by ci@runner" in row and " B<" in row
    assert "no state" in page[page.index("team/empty</a>") :]


def test_units_list_pages_by_keyset_and_filters_by_prefix(app: App) -> None:
    """limit gives pages linked by ``after``; every unit appears exactly once;
    the prefix keeps to its units."""
    for n in range(7):
        app.api("POST", "/v1/units", {"id": f"a/{n}"}, status=201)
    app.api("POST", "/v1/units", {"id": "b/x"}, status=201)
    browser = app.browser(app.admin)
    seen: list[str] = []
    link: str | None = "/ui/?prefix=a/&limit=3"
    while link:
        page = browser.get(html.unescape(link)).text
        seen += ids_on(page)
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        link = found.group(1) if found else None
    assert seen == [f"a/{n}" for n in range(7)]


def test_search_finds_ids_and_labels_anywhere(app: App) -> None:
    """The search matches a part of an ID, or a label, case-insensitively."""
    app.api("POST", "/v1/units", {"id": "shop/prod/db"}, status=201)
    app.api("POST", "/v1/units", {"id": "shop/dev/db"}, status=201)
    app.api("POST", "/v1/units", {"id": "blog", "labels": {"team": "Payments"}}, status=201)
    browser = app.browser(app.admin)
    assert ids_on(browser.get("/ui/?q=PROD").text) == ["shop/prod/db"]
    assert ids_on(browser.get("/ui/?q=payments").text) == ["blog"]
    assert ids_on(browser.get("/ui/?q=db&prefix=shop/dev").text) == ["shop/dev/db"]
    assert "No units match" in browser.get("/ui/?q=nothing-like-it").text


def test_a_search_pages_through_matches(app: App) -> None:
    """Search results page like the list: ``after`` continues after the last match."""
    for n in range(5):
        app.api("POST", "/v1/units", {"id": f"x/match-{n}"}, status=201)
        app.api("POST", "/v1/units", {"id": f"x/other-{n}"}, status=201)
    browser = app.browser(app.admin)
    first = browser.get("/ui/?q=match&limit=2").text
    assert ids_on(first) == ["x/match-0", "x/match-1"]
    link = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', first).group(1))  # type: ignore[union-attr]
    assert ids_on(browser.get(link).text) == ["x/match-2", "x/match-3"]


def test_unit_page_masks_sensitive_outputs_and_groups_resources(written: App) -> None:
    """Outputs show their values except sensitive ones; resources appear by module and type."""
    page = written.browser(written.admin).get(f"/ui/units/{UNIT}").text
    assert "db-2.internal" in page
    assert "s3cr3t-pw" not in page
    assert "sensitive</span>" in page
    assert "root module" in page and "terraform_data.db" in page
    assert "1.15.5" in page and "lin-1" in page


def test_outputs_only_reader_sees_outputs_and_no_resource(written: App) -> None:
    """A caller allowed only outputs sees them, not the resources, and cannot
    open a diff (403, as the API refuses it)."""
    token = written.grant("reader", "outputs", ["unit.read_outputs"])
    browser = written.browser(token)
    page = browser.get(f"/ui/units/{UNIT}").text
    assert "db-2.internal" in page
    assert "terraform_data" not in page
    assert "outputs only" in page
    diff = browser.get(f"/ui/diff/{UNIT}")
    assert diff.status_code == 403 and "terraform_data" not in diff.text
    history = browser.get(f"/ui/history/{UNIT}").text
    assert "/ui/diff/" not in history and "Restore" not in history
    assert "Force unlock" not in page


def test_a_unit_the_caller_may_not_see_is_403_and_missing_from_the_list(written: App) -> None:
    """Without any read permission on it, a unit is refused and not listed."""
    written.api("POST", "/v1/units", {"id": "other/x"}, status=201)
    token = written.grant("dev", "dev", ["unit.read"], "other/*")
    browser = written.browser(token)
    assert ids_on(browser.get("/ui/").text) == ["other/x"]
    assert browser.get(f"/ui/units/{UNIT}").status_code == 403
    assert browser.get(f"/ui/history/{UNIT}").status_code == 403


def test_lock_holder_and_force_unlock_behind_a_confirmation(written: App) -> None:
    """The unit page names the holder; the confirmation names them again; the
    form breaks that lock and says so."""
    holder = {"ID": "lock-7", "Who": "bob@laptop", "Operation": "OperationTypeApply"}
    written.api("POST", f"/v1/units/{UNIT}/lock", holder)
    browser = written.browser(written.admin)
    page = browser.get(f"/ui/units/{UNIT}").text
    assert "bob@laptop" in page and "OperationTypeApply" in page and "Force unlock" in page
    confirm = browser.get(f"/ui/unlock/{UNIT}").text
    assert "Break the lock held by bob@laptop" in confirm and "lock-7" in confirm
    done = browser.post(f"/ui/unlock/{UNIT}", {"lock_id": "lock-7"})
    assert "is unlocked" in browser.follow(done).text
    assert written.api("GET", f"/v1/units/{UNIT}")["locked"] is False


def test_force_unlock_does_not_break_a_newer_lock(written: App) -> None:
    """If the lock changed hands after the confirmation was shown, the newer
    holder's lock stays (423 naming it)."""
    written.api("POST", f"/v1/units/{UNIT}/lock", {"ID": "old", "Who": "bob"})
    browser = written.browser(written.admin)
    browser.get(f"/ui/unlock/{UNIT}")
    written.api("DELETE", f"/v1/units/{UNIT}/unlock", {"id": "old"})
    written.api("POST", f"/v1/units/{UNIT}/lock", {"ID": "new", "Who": "carol"})
    response = browser.post(f"/ui/unlock/{UNIT}", {"lock_id": "old"})
    assert response.status_code == 423 and "carol" in response.text
    assert written.api("GET", f"/v1/units/{UNIT}")["lock"]["id"] == "new"


def test_force_unlock_is_not_offered_without_unit_lock(written: App) -> None:
    """A reader sees the holder but no button, and the form is refused."""
    written.api("POST", f"/v1/units/{UNIT}/lock", {"ID": "l", "Who": "bob"})
    browser = written.browser(written.grant("reader", "ui-reader", ["unit.read"]))
    assert "Force unlock" not in browser.get(f"/ui/units/{UNIT}").text
    assert browser.post(f"/ui/unlock/{UNIT}", {"lock_id": "l"}).status_code == 403
    assert written.api("GET", f"/v1/units/{UNIT}")["locked"] is True


def test_history_lists_versions_and_marks_quarantine_with_reason(written: App) -> None:
    """The timeline shows every version; a refused write is quarantined, with why."""
    refused = written.client.post(
        f"/v1/backend/{UNIT}",
        content=state(9, lineage="other"),
        headers={"Authorization": f"Bearer {written.admin}"},
    )
    assert refused.status_code == 409
    page = written.browser(written.admin).get(f"/ui/history/{UNIT}").text
    assert page.count('data-label="Version"') == 3
    assert "quarantined</span>" in page and "lineage" in page
    assert "current</span>" in page


def test_diff_shows_attribute_changes_and_outputs(written: App) -> None:
    """The visual diff lists changed attributes with before and after, and output changes."""
    page = written.browser(written.admin).get(f"/ui/diff/{UNIT}?from=1&to=2").text
    assert "version 1 → 2" in page
    assert "terraform_data.db" in page
    attrs = re.findall(r'<code>(\w+)</code></th>\s*<td data-label="Before"', page)
    assert attrs == ["extra", "input"]
    assert ">a</code>" in page and ">b</code>" in page
    assert "db-1.internal" in page and "db-2.internal" in page


def test_diff_masks_sensitive_output_changes(written: App) -> None:
    """A changed sensitive output shows as changed, never its values."""
    written.write(UNIT, state(3, secret="new-secret", input="b", extra="x"))
    page = written.browser(written.admin).get(f"/ui/diff/{UNIT}?from=2&to=3").text
    assert "password" in page
    assert "s3cr3t-pw" not in page and "new-secret" not in page and MASK not in page


def test_restore_with_confirmation_writes_a_new_version(written: App) -> None:
    """The confirmation shows what changes; restoring makes version 1's content current."""
    browser = written.browser(written.admin)
    confirm = browser.get(f"/ui/restore/{UNIT}?version=1").text
    assert "Restore version 1" in confirm and "db-1.internal" in confirm
    done = browser.post(f"/ui/restore/{UNIT}", {"version": "1"})
    assert "restored as version 3" in browser.follow(done).text
    current = written.client.get(
        f"/v1/backend/{UNIT}", headers={"Authorization": f"Bearer {written.admin}"}
    ).json()
    assert current["outputs"]["endpoint"]["value"] == "db-1.internal"
    assert current["serial"] == 3


def test_restore_is_refused_to_a_reader(written: App) -> None:
    """Without unit.write there is no restore link and the form is refused."""
    browser = written.browser(written.grant("reader", "ui-reader", ["unit.read"]))
    assert "Restore" not in browser.get(f"/ui/history/{UNIT}").text
    browser.get("/ui/")
    assert browser.post(f"/ui/restore/{UNIT}", {"version": "1"}).status_code == 403
    assert written.api("GET", f"/v1/units/{UNIT}/versions")["total"] == 2


def test_deleted_units_and_undelete(written: App) -> None:
    """A deleted unit is listed with an Undelete button that brings it back."""
    written.api("DELETE", f"/v1/units/{UNIT}", status=204)
    browser = written.browser(written.admin)
    assert ids_on(browser.get("/ui/").text) == []
    page = browser.get("/ui/deleted").text
    assert UNIT in page and "Undelete" in page
    done = browser.post(f"/ui/undelete/{UNIT}", {})
    assert f"Unit {UNIT} is back." in browser.follow(done).text
    assert written.api("GET", f"/v1/units/{UNIT}")["version"] == 2


def test_rbac_page_for_admins_only(written: App) -> None:
    """Admins see roles, permissions and assignments; others get 403 and no menu entry."""
    admin = written.browser(written.admin)
    page = admin.get("/ui/rbac").text
    assert "Who has which roles" in page and "admin" in page and "allow:" in page
    assert 'href="/ui/rbac"' in page
    reader = written.browser(written.grant("reader", "ui-reader", ["unit.read"]))
    assert 'href="/ui/rbac"' not in reader.get("/ui/").text
    assert reader.get("/ui/rbac").status_code == 403


def test_roles_are_given_and_taken_through_forms(written: App) -> None:
    """The assign and revoke forms change the policy as the API would."""
    written.grant("reader", "ui-reader", ["unit.read"])
    browser = written.browser(written.admin)
    browser.get("/ui/rbac")
    done = browser.post("/ui/rbac/assign", {"subject": "carol", "role_id": "ui-reader"})
    assert "Role ui-reader given to carol." in browser.follow(done).text
    users = written.api("GET", "/v1/rbac/users")
    assert any(u["subject"] == "carol" and "ui-reader" in u["roles"] for u in users)
    browser.post("/ui/rbac/revoke", {"subject": "carol", "role_id": "ui-reader"})
    users = written.api("GET", "/v1/rbac/users")
    assert not any(u["subject"] == "carol" for u in users)
    missing = browser.post("/ui/rbac/assign", {"subject": "carol", "role_id": "no-such"})
    assert missing.status_code == 404


def test_rbac_test_form_explains_a_decision(written: App) -> None:
    """The test form answers allowed or denied with the reason, for oneself or
    (admins only) for another subject."""
    token = written.grant("reader", "ui-reader", ["unit.read"], "team/*")
    browser = written.browser(token)
    allowed = browser.get("/ui/rbac/test?action=unit.read&resource=team/app").text
    assert "Allowed</span>" in allowed and "rule 1 of permission" in allowed
    denied = browser.get("/ui/rbac/test?action=unit.write&resource=team/app").text
    assert "Denied</span>" in denied
    other = browser.get("/ui/rbac/test?action=unit.read&resource=x&subject=admin")
    assert other.status_code == 403 and "rbac.manage" in other.text
    unknown = browser.get("/ui/rbac/test?action=unit.fly&resource=x")
    assert unknown.status_code == 400
    admin = written.browser(written.admin)
    about = admin.get("/ui/rbac/test?action=unit.read&resource=team/app&subject=reader").text
    assert "Allowed</span>" in about and "reader" in about


def test_the_phone_layout_labels_every_cell(written: App) -> None:
    """Tables that stack on a phone label each cell (data-label), and every
    form field has a label."""
    page = written.browser(written.admin).get("/ui/").text
    cells = re.findall(r"<td(?: [^>]*)?>", page)
    assert cells and all("data-label" in c for c in cells)
    for field in re.findall(r'<input id="([^"]+)"', page):
        assert f'<label for="{field}">' in page


def test_a_huge_state_is_not_read_for_its_page(
    written: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the summary limit the page says how to download the state instead of reading it."""
    monkeypatch.setattr(unit_views, "MAX_SUMMARY_BYTES", 100)
    page = written.browser(written.admin).get(f"/ui/units/{UNIT}").text
    assert "too large to show here" in page and f"taco unit pull {UNIT}" in page
    assert "db-2.internal" not in page


def test_audit_trail_for_those_who_may_read_it(written: App) -> None:
    """Admins see who wrote, locked and was refused, filtered by unit; others
    get 403 and no menu entry."""
    written.api("POST", f"/v1/units/{UNIT}/lock", {"ID": "l-1", "Who": "ci"})
    written.api("POST", "/v1/units", {"id": "other/x"}, status=201)
    reader = written.browser(written.grant("reader", "ui-reader", ["unit.read"], "team/*"))
    assert 'href="/ui/audit"' not in reader.get("/ui/").text
    assert reader.get("/ui/audit").status_code == 403
    reader.get("/ui/units/other/x")  # refused: an access.denied record
    admin = written.browser(written.admin)
    page = admin.get("/ui/audit").text
    assert 'href="/ui/audit"' in page
    for action in ("state.write", "lock", "access.denied", "create"):
        assert f"<code>{action}</code>" in page, action
    assert 'class="refused"' in page
    only = admin.get(f"/ui/audit?unit={UNIT}&since=all").text
    assert "<code>state.write</code>" in only and "other/x" not in only
    assert "No records match" in admin.get("/ui/audit?subject=nobody").text
