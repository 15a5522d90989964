"""Secure by default: a fresh install refuses anonymous access and hands its
operator one admin token, once."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from taco_http.app import create_app
from taco_http.settings import Settings
from tests.servers import running_server

TOKEN = re.compile(r"otc_[A-Za-z0-9_-]{43}")


def test_first_start_prints_the_admin_token_once_and_writes_it_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token is printed and written beside the database (mode 0600); it
    works; a second start prints nothing and leaves the file alone."""
    settings = Settings(sqlite_db_path=tmp_path / "data" / "taco.db")
    with TestClient(create_app(settings)) as client:
        printed = TOKEN.findall(capsys.readouterr().err)
        token_file = tmp_path / "data" / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert printed == [token_file.read_text().strip()]
        headers = {"Authorization": f"Bearer {printed[0]}"}
        assert client.get("/v1/units", headers=headers).status_code == 200
        assert client.get("/v1/units").status_code == 401
    before = token_file.stat().st_mtime_ns
    with TestClient(create_app(settings)) as client:
        assert TOKEN.findall(capsys.readouterr().err) == []
        assert client.get("/v1/units", headers=headers).status_code == 200
    assert token_file.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "extra",
    [
        {"auth_disable": True},
        {"auth_issuer": "https://idp.example.test", "auth_client_id": "cli"},
    ],
)
def test_no_bootstrap_with_auth_off_or_an_oidc_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: dict[str, object]
) -> None:
    """Auth disabled, or users logging in through OIDC: no admin token is made."""
    settings = Settings(sqlite_db_path=tmp_path / "taco.db", **extra)  # type: ignore[arg-type]
    with TestClient(create_app(settings)):
        pass
    assert TOKEN.findall(capsys.readouterr().err) == []
    assert not (tmp_path / "admin-token").exists()


@pytest.mark.e2e
def test_fresh_opentacosvc_is_closed_and_its_admin_token_works(tmp_path: Path) -> None:
    """The real service, started as a user would: anonymous requests get 401,
    the printed token gets in, and a restart does not print a new one."""
    workdir = tmp_path / "svc"
    with running_server(workdir, auth_disable=False) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/v1/units").status_code == 401
        (token,) = TOKEN.findall(server.logs())
        token_file = workdir / "data" / "admin-token"
        assert token_file.read_text().strip() == token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        reply = httpx.get(f"{server.url}/v1/units", auth=("anyone", token))
        assert reply.status_code == 200, reply.text
        assert "NOT authenticated" not in server.logs()
        assert "DISABLED" not in server.logs()
    with running_server(workdir, auth_disable=False) as again:
        assert TOKEN.findall(again.logs()) == []
        assert httpx.get(f"{again.url}/v1/units", auth=("x", token)).status_code == 200


@pytest.mark.e2e
def test_auth_disable_logs_a_loud_warning(tmp_path: Path) -> None:
    """--auth-disable is announced in the log."""
    with running_server(tmp_path / "svc") as server:
        assert "AUTHENTICATION IS DISABLED" in server.logs()
        assert httpx.get(f"{server.url}/v1/units").status_code == 200
