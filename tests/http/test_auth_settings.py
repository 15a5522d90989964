"""Auth configuration: variables, flags, and start-up refusals with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from starlette.testclient import TestClient

from taco_http.app import create_app
from taco_http.parser import build_parser
from taco_http.settings import Settings, SettingsError, from_env
from taco_http.wiring import admin_token_file


def test_defaults_are_secure() -> None:
    """Auth is on; tokens last 1 h, sessions 30 days; the key rotates every 30 days."""
    s = from_env({})
    assert s.auth_disable is False
    assert (s.tokens_access_ttl_seconds, s.tokens_refresh_ttl_seconds) == (3600, 720 * 3600)
    assert s.tokens_key_rotation_seconds == 30 * 86400
    assert s.token_issuer() == "http://127.0.0.1:8080"
    assert admin_token_file(s) == Path("data/admin-token")
    assert admin_token_file(Settings(storage="memory")) is None


def test_env_and_flags() -> None:
    """Go-style durations and URLs are read from the environment; flags win."""
    env = {
        "OPENTACO_AUTH_ISSUER": "https://idp.example.test",
        "OPENTACO_AUTH_CLIENT_ID": "cli",
        "OPENTACO_TOKENS_ACCESS_TTL": "15m",
        "OPENTACO_TOKENS_REFRESH_TTL": "168h",
        "OPENTACO_PUBLIC_BASE_URL": "https://taco.example.test",
    }
    s = from_env(env)
    assert (s.auth_issuer, s.auth_client_id) == ("https://idp.example.test", "cli")
    assert (s.tokens_access_ttl_seconds, s.tokens_refresh_ttl_seconds) == (900, 168 * 3600)
    assert s.token_issuer() == "https://taco.example.test"
    flags = vars(build_parser().parse_args(["--tokens-access-ttl", "5m", "--auth-client-id", "x"]))
    s = from_env(env, flags)
    assert (s.tokens_access_ttl_seconds, s.auth_client_id) == (300, "x")


@pytest.mark.parametrize(
    "env",
    [
        {"OPENTACO_AUTH_ISSUER": "https://idp.example.test"},
        {"OPENTACO_AUTH_CLIENT_ID": "cli"},
        {"OPENTACO_AUTH_ISSUER": "idp.example.test", "OPENTACO_AUTH_CLIENT_ID": "cli"},
        {"OPENTACO_TOKENS_ACCESS_TTL": "0"},
        {"OPENTACO_TOKENS_REFRESH_TTL": "forever"},
    ],
)
def test_bad_auth_settings_are_refused(env: dict[str, str]) -> None:
    """Half an OIDC set-up, a non-URL issuer or a zero lifetime stop start-up."""
    with pytest.raises(SettingsError, match="OPENTACO_"):
        from_env(env)


def test_configured_signing_key_signs_and_is_published(tmp_path: Path) -> None:
    """With a PEM key file, the JWKS holds exactly that key under the given kid."""
    pem = tmp_path / "signing.pem"
    pem.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    settings = Settings(
        storage="memory",
        tokens_private_key_pem_path=pem,
        tokens_kid="k1",
        admin_token_path=tmp_path / "admin-token",
    )
    with TestClient(create_app(settings)) as client:
        assert [k["kid"] for k in client.get("/v1/auth/jwks").json()["keys"]] == ["k1"]


@pytest.mark.parametrize("content", [None, b"not a key"])
def test_unusable_key_file_stops_opentacosvc_with_one_line(
    tmp_path: Path, content: bytes | None
) -> None:
    """A missing or malformed key file: exit 2 naming the variable, no traceback."""
    pem = tmp_path / "signing.pem"
    if content is not None:
        pem.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "taco_http.main", "--storage", "memory"],
        env={"OPENTACO_TOKENS_PRIVATE_KEY_PEM_PATH": str(pem), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "OPENTACO_TOKENS_PRIVATE_KEY_PEM_PATH" in proc.stderr
    assert "Traceback" not in proc.stderr
