"""``taco audit`` against a live ``opentacosvc`` and on a local file, and
the RBAC recipe that lets auditors read it."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Taco, state
from tests.e2e.test_terraform_rbac import commands, recipe
from tests.servers import running_server


def test_audit_shows_who_did_what_to_a_unit(taco: Taco, unit_id: str) -> None:
    """The trail of a unit, as a table and as the API's JSON page."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "lock", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    taco.ok("unit", "unlock", unit_id)
    page = taco.ok("audit", "--unit", unit_id, "--json").json()
    assert [r["action"] for r in page["records"]] == ["create", "lock", "state.write", "unlock"]
    assert page["count"] == 4
    assert page["next"] is None
    write = page["records"][2]
    assert (write["unit_id"], write["version"], write["surface"]) == (unit_id, 1, "api")
    assert write["lock_id"] == page["records"][1]["lock_id"]
    lines = taco.ok("audit", "--unit", unit_id, "--since", "1h").out.splitlines()
    assert lines[0].split() == ["TIME", "ACTION", "WHO", "WHAT", "FROM", "REQUEST"]
    assert len(lines) == 5
    assert "state.write" in lines[3] and f"{unit_id} v1" in lines[3]


def test_a_limit_prints_the_cursor_to_go_on(taco: Taco, unit_id: str) -> None:
    """--limit stops early and says how to go on; --after goes on from there."""
    taco.ok("unit", "create", unit_id)
    taco.ok("unit", "push", unit_id, "-", stdin=state(1))
    taco.ok("unit", "push", unit_id, "-", stdin=state(2))
    first = taco.ok("audit", "--unit", unit_id, "--limit", "2", "--json").json()
    assert first["count"] == 2 and first["next"]
    text = taco.ok("audit", "--unit", unit_id, "--limit", "2").out
    assert text.rstrip().endswith(f"More records follow: add --after {first['next']}")
    rest = taco.ok("audit", "--unit", unit_id, "--after", first["next"], "--json").json()
    assert [r["action"] for r in first["records"] + rest["records"]] == [
        "create",
        "state.write",
        "state.write",
    ]


def test_a_future_since_finds_nothing(taco: Taco, unit_id: str) -> None:
    """--since takes an RFC 3339 time; nothing is recorded after 2999."""
    taco.ok("unit", "create", unit_id)
    assert taco.ok("audit", "--since", "2999-01-01T00:00:00Z").out == "No audit records.\n"


def test_bad_options_are_usage_errors(taco: Taco) -> None:
    """A --since or --limit that means nothing exits 2 naming it."""
    for args in (("--since", "yesterday"), ("--limit", "0"), ("--unit", "bad id")):
        result = taco("audit", *args)
        assert result.code == 2, result
        assert args[0] in result.err


def test_embedded_writes_are_in_the_file_trail(tmp_path: Path) -> None:
    """taco --embedded records what it changes (surface cli) and reads it back."""
    work = tmp_path / "work"
    work.mkdir()
    taco = Taco(work, None)
    db = str(tmp_path / "local.db")
    taco.ok("--embedded", db, "unit", "create", "local/app")
    taco.ok("--embedded", db, "unit", "push", "local/app", "-", stdin=state(1))
    page = taco.ok("--embedded", db, "audit", "--json").json()
    assert [(r["action"], r["surface"]) for r in page["records"]] == [
        ("create", "cli"),
        ("state.write", "cli"),
    ]
    assert page["records"][0]["subject"].count("@") == 1


def test_without_a_login_audit_exits_5(tmp_path: Path) -> None:
    """Against a server with authentication on, an anonymous audit exits 5."""
    with running_server(tmp_path / "svc", auth_disable=False) as server:
        work = tmp_path / "work"
        work.mkdir()
        result = Taco(work, server.url)("audit")
    assert result.code == 5, result
    assert "not logged in" in result.err


def test_the_auditors_recipe_reads_the_trail_and_changes_nothing(tmp_path: Path) -> None:
    """docs/rbac.md's auditors recipe, run as written by the bootstrap admin:
    its subject reads the trail and the states, and may change nothing."""
    with running_server(tmp_path / "svc", auth_disable=False) as server:
        admin = {"OPENTACO_TOKEN": (tmp_path / "svc" / "data" / "admin-token").read_text().strip()}
        work = tmp_path / "work"
        work.mkdir()
        taco = Taco(work, server.url)
        for argv in commands(recipe("auditors-setup")):
            assert argv[0] == "taco", argv
            taco.ok(*argv[1:], env=admin)
        taco.ok("unit", "create", "prod/app", env=admin)
        taco.ok("unit", "push", "prod/app", "-", stdin=state(1), env=admin)
        made = taco.ok(
            "token",
            "create",
            "--name",
            "audit",
            "--subject",
            "security@example.com",
            "--json",
            env=admin,
        ).json()
        auditor = {"OPENTACO_TOKEN": made["token"]}
        page = taco.ok("audit", "--since", "7d", "--json", env=auditor).json()
        actions = [r["action"] for r in page["records"]]
        assert actions.count("rbac.change") == 5
        assert "state.write" in actions and "token.create" in actions
        assert taco.ok("unit", "pull", "prod/app", env=auditor).out
        for refused in (
            taco("unit", "push", "prod/app", "-", stdin=state(2), env=auditor),
            taco("rbac", "role", "ls", env=auditor),
        ):
            assert refused.code == 1, refused
            assert "permission denied" in refused.err
