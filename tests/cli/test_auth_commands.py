"""``taco login --token``, ``whoami``, ``logout`` and ``taco token`` against a
live ``opentacosvc`` with authentication on (API tokens, no OIDC provider).

The server's first start creates the bootstrap admin token and writes it to
``data/admin-token`` beside its database; the tests log in with it.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import Taco
from tests.servers import Server, running_server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh server with authentication on and no OIDC provider."""
    with running_server(tmp_path_factory.mktemp("svc-auth"), auth_disable=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin_token(auth_server: Server) -> str:
    token_file = auth_server.log.parent / "data" / "admin-token"
    return token_file.read_text().strip()


@pytest.fixture
def taco(auth_server: Server, tmp_path: Path) -> Taco:
    work = tmp_path / "work"
    work.mkdir()
    return Taco(work, auth_server.url)


@pytest.fixture
def logged_in(taco: Taco, admin_token: str) -> Taco:
    taco.ok("login", "--token", "-", stdin=admin_token.encode())
    return taco


def _profiles(taco: Taco) -> dict[str, dict[str, str]]:
    profiles: dict[str, dict[str, str]] = json.loads(taco.credentials.read_text())["profiles"]
    return profiles


def test_without_a_token_a_command_exits_5_saying_how_to_log_in(taco: Taco) -> None:
    """No saved login and no OPENTACO_TOKEN: exit 5, the server named, the fixes listed."""
    result = taco("unit", "ls")
    assert result.code == 5, result
    assert result.err.startswith(
        f"taco: not logged in to {taco.server}, which requires authentication\n"
    )
    assert "taco login --token -" in result.err
    assert "OPENTACO_TOKEN" in result.err
    assert "Traceback" not in result.err
    doc = json.loads(taco("--json", "unit", "ls").err)
    assert (doc["exit_code"], doc["kind"]) == (5, "AuthenticationFailed")


def test_login_with_a_token_saves_it_privately_and_commands_use_it(
    taco: Taco, admin_token: str, unit_id: str
) -> None:
    """login --token - checks the token, saves it 0600 keyed by the server,
    and every command then sends it."""
    result = taco.ok("login", "--token", "-", stdin=admin_token.encode() + b"\n")
    assert result.out == (
        f"Login successful; tokens saved.\nLogged in to {taco.server} as admin.\n"
    )
    assert stat.S_IMODE(taco.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(taco.credentials.parent.stat().st_mode) == 0o700
    assert taco.server is not None
    assert json.loads(taco.credentials.read_text()) == {
        "profiles": {taco.server: {"access_token": admin_token, "refresh_token": ""}}
    }
    taco.ok("unit", "create", unit_id)
    assert unit_id in taco.ok("unit", "ls").out
    verbose = taco.ok("-v", "unit", "info", unit_id)
    assert admin_token not in verbose.err and admin_token not in verbose.out


def test_a_refused_token_is_not_saved(taco: Taco) -> None:
    """login --token with a token the server refuses: exit 5, nothing saved."""
    result = taco("login", "--token", "otc_not-a-real-token")
    assert result.code == 5, result
    assert f"taco: the server at {taco.server} refused the token: " in result.err
    assert "Nothing was saved." in result.err
    assert not taco.credentials.exists()
    empty = taco("login", "--token", "-", stdin=b"  \n")
    assert empty.code == 2 and "no token given" in empty.err


def test_whoami_names_the_caller_and_the_credential(logged_in: Taco) -> None:
    """whoami shows subject, groups, kind and where the token came from."""
    out = logged_in.ok("whoami").out
    assert f"Server:     {logged_in.server}\n" in out
    assert "Subject:    admin\n" in out
    assert "Groups:     -\n" in out
    assert "Kind:       api_token (ID " in out
    assert f"Credential: saved credentials ({logged_in.credentials})" in out
    doc = logged_in.ok("whoami", "--json").json()
    assert doc["subject"] == "admin" and doc["kind"] == "api_token" and doc["token_id"]
    assert doc["credential"] == "saved"


def test_opentaco_token_wins_over_the_saved_login(logged_in: Taco) -> None:
    """OPENTACO_TOKEN is sent instead of the saved token; a bad one is named."""
    created = logged_in.ok("token", "create", "--name", "env-ci", "--json").json()
    env = {"OPENTACO_TOKEN": created["token"]}
    doc = logged_in.ok("whoami", "--json", env=env).json()
    assert (doc["token_id"], doc["credential"]) == (created["id"], "OPENTACO_TOKEN")
    refused = logged_in("unit", "ls", env={"OPENTACO_TOKEN": "otc_bogus"})
    assert refused.code == 5
    assert "refused the token in OPENTACO_TOKEN" in refused.err


def test_token_create_ls_revoke_and_a_revoked_token_is_refused(logged_in: Taco) -> None:
    """create shows the secret once, ls never does, revoke takes effect at once."""
    human = logged_in.ok("token", "create", "--name", "ci")
    lines = human.out.splitlines()
    assert lines[0].startswith("API token created: ci (ID ")
    secret = next(line.strip() for line in lines if line.strip().startswith("otc_"))
    assert "shown this once" in human.out
    token_id = lines[0].split("(ID ")[1].rstrip(")")

    listed = logged_in.ok("token", "ls")
    assert secret not in listed.out
    row = next(line for line in listed.out.splitlines() if line.startswith(token_id))
    assert row.split()[1:3] == ["ci", "admin"] and row.split()[-1] == "active"
    doc = logged_in.ok("token", "list", "--json").json()
    assert doc["count"] == len(doc["tokens"]) >= 2
    assert all("token" not in t for t in doc["tokens"])

    assert logged_in.ok("whoami", env={"OPENTACO_TOKEN": secret}).code == 0
    assert logged_in.ok("token", "revoke", token_id).out == f"API token revoked: {token_id}\n"
    refused = logged_in("unit", "ls", env={"OPENTACO_TOKEN": secret})
    assert refused.code == 5, refused
    assert "API token unknown, revoked or expired" in refused.err
    revoked = logged_in.ok("token", "ls", "--json").json()["tokens"]
    assert next(t for t in revoked if t["id"] == token_id)["status"] == "revoked"
    missing = logged_in("token", "revoke", "no-such-token")
    assert missing.code == 4 and "API token 'no-such-token' not found" in missing.err


def test_token_expiry(logged_in: Taco) -> None:
    """--expires takes a duration; a malformed one is the server's clear 400."""
    doc = logged_in.ok("token", "create", "--name", "short", "--expires", "90d", "--json").json()
    expires = datetime.fromisoformat(doc["expires"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert logged_in.ok("token", "create", "--name", "s", "--expires", "3600").code == 0
    bad = logged_in("token", "create", "--name", "bad", "--expires", "soon")
    assert bad.code == 1 and "expires_in" in bad.err


def test_logout_removes_only_this_servers_profile(logged_in: Taco) -> None:
    """logout forgets this server's token, keeps other servers' profiles and
    unknown fields, and a second logout says there was nothing to do."""
    doc = json.loads(logged_in.credentials.read_text())
    doc["profiles"]["https://other.example"] = {"access_token": "x", "refresh_token": "y"}
    doc["written_by"] = "another tool"
    logged_in.credentials.write_text(json.dumps(doc))

    out = logged_in.ok("logout").out
    assert out.startswith(f"Logged out from {logged_in.server} (tokens removed)\n")
    assert "stays valid" in out  # an API token is not revoked by logging out
    after = json.loads(logged_in.credentials.read_text())
    assert after == {
        "profiles": {"https://other.example": {"access_token": "x", "refresh_token": "y"}},
        "written_by": "another tool",
    }
    assert stat.S_IMODE(logged_in.credentials.stat().st_mode) == 0o600
    assert logged_in("unit", "ls").code == 5
    again = logged_in.ok("logout").out
    assert again == f"Not logged in to {logged_in.server} (no saved tokens)\n"


def test_a_saved_token_goes_to_its_own_server_only(logged_in: Taco, server: Server) -> None:
    """The profile of one server is not sent to another."""
    elsewhere = logged_in.ok("whoami", "--json", "--server", server.url).json()
    assert (elsewhere["subject"], elsewhere["credential"]) == ("anonymous", None)


def test_browser_login_needs_an_oidc_provider(taco: Taco) -> None:
    """Without an OIDC provider on the server, login says to use an API token."""
    result = taco("login", "--no-browser")
    assert result.code == 1, result
    assert "publishes no OIDC issuer and client ID" in result.err
    assert "taco login --token -" in result.err


def test_login_options_are_checked(taco: Taco) -> None:
    """--token excludes the browser options; auth commands need a server."""
    mixed = taco("login", "--token", "x", "--issuer", "https://idp")
    assert mixed.code == 2 and "cannot be combined" in mixed.err
    embedded = taco("--embedded", "x.db", "token", "ls")
    assert embedded.code == 2 and "taco token ls needs a server" in embedded.err
    assert taco("login", "--callback-port", "70000").code == 2


def test_against_a_server_without_authentication(server: Server, tmp_path: Path) -> None:
    """With auth disabled there is nothing to log in to: a browser login says so, and
    a token is refused, not saved, with a message saying why."""
    taco = Taco(tmp_path, server.url)
    out = taco.ok("login", "--no-browser").out
    assert (
        out
        == f"Authentication is disabled on {server.url}: every command works without logging in.\n"
    )
    refused = taco("login", "--token", "otc_whatever")
    assert refused.code == 1
    assert f"authentication is disabled on {server.url}" in refused.err
    assert "the token was not saved" in refused.err
    assert not taco.credentials.exists()
    assert taco.ok("whoami", "--json").json()["kind"] == "anonymous"


def test_a_login_for_127_0_0_1_serves_localhost(taco: Taco, admin_token: str) -> None:
    """Logged in at http://127.0.0.1:PORT, commands given --server http://localhost:PORT
    use that login (one machine, one server), and logging out there ends it."""
    taco.ok("login", "--token", "-", stdin=admin_token.encode())
    assert taco.server is not None
    localhost = taco.server.replace("127.0.0.1", "localhost")
    assert taco.ok("--server", localhost, "whoami", "--json").json()["kind"] == "api_token"
    taco.ok("--server", localhost, "logout")
    assert _profiles(taco) == {}


CREDENTIAL_PROCESS_KEYS = {
    "Version",
    "AccessKeyId",
    "SecretAccessKey",
    "SessionToken",
    "Expiration",
}


def test_creds_json_is_exactly_what_credential_process_expects(
    logged_in: Taco, admin_token: str
) -> None:
    """taco creds --json prints one JSON document with exactly AWS's credential_process
    fields, expiring in an hour; OPENTACO_TOKEN works as for every command."""
    result = logged_in.ok("creds", "--json", "--server", str(logged_in.server))
    doc = json.loads(result.out)
    assert set(doc) == CREDENTIAL_PROCESS_KEYS
    assert doc["Version"] == 1
    assert doc["AccessKeyId"].startswith("OTAK")
    expires = datetime.fromisoformat(doc["Expiration"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    assert result.err == ""
    fresh = Taco(logged_in.cwd, logged_in.server, logged_in.cwd.parent / "nobody")
    via_env = fresh.ok("creds", "--json", env={"OPENTACO_TOKEN": admin_token})
    assert set(json.loads(via_env.out)) == CREDENTIAL_PROCESS_KEYS
    assert json.loads(via_env.out)["AccessKeyId"] != doc["AccessKeyId"]


def test_creds_summary_and_refusals(logged_in: Taco, taco: Taco) -> None:
    """Without --json a summary shows the credentials and the profile line; without a
    login the command exits 5 like every other."""
    out = logged_in.ok("creds").out
    assert "AccessKeyId:     OTAK" in out
    assert f"credential_process = taco creds --json --server {logged_in.server}" in out
    fresh = Taco(taco.cwd, taco.server, taco.cwd.parent / "nobody")
    assert fresh("creds", "--json").code == 5
