"""Where the provider connects, and as whom."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taco_tf_provider.client import TokenSource, resolve
from taco_tf_provider.errors import ConfigError

UNIT_DOC = {
    "id": "app/prod",
    "size": 0,
    "created": "2026-01-01T00:00:00.000000Z",
    "updated": "2026-01-01T00:00:00.000000Z",
    "locked": False,
    "lock": None,
    "labels": {"team": "b"},
    "version": None,
}


def saved_login(config: Path, server: str, access: str, mode: int = 0o600) -> None:
    """A credentials file as ``taco login`` writes it."""
    path = config / "opentaco" / "credentials.json"
    path.parent.mkdir(parents=True)
    doc = {"profiles": {server: {"access_token": access, "refresh_token": "otr_x"}}}
    path.write_text(json.dumps(doc))
    path.chmod(mode)


def test_endpoint_comes_from_argument_then_environment_then_the_cli() -> None:
    """endpoint beats OPENTACO_ENDPOINT, which beats OPENTACO_SERVER, then the default."""
    env = {"OPENTACO_ENDPOINT": "http://e:1/", "OPENTACO_SERVER": "http://s:2"}
    assert resolve("http://a:3/", None, env).endpoint == "http://a:3"
    assert resolve(None, None, env).endpoint == "http://e:1"
    assert resolve(None, None, {"OPENTACO_SERVER": "http://s:2"}).endpoint == "http://s:2"
    assert resolve(None, None, {}).endpoint == "http://localhost:8080"


def test_token_comes_from_argument_then_environment_then_the_saved_login(
    tmp_path: Path,
) -> None:
    """token beats OPENTACO_TOKEN, which beats the login saved for exactly that server."""
    saved_login(tmp_path, "http://s:2", "eyJ.saved")
    env = {"XDG_CONFIG_HOME": str(tmp_path), "OPENTACO_TOKEN": "otc_env"}
    argument = resolve("http://s:2", "otc_arg", env)
    assert (argument.source, argument.credentials and argument.credentials.token()) == (
        TokenSource.ARGUMENT,
        "otc_arg",
    )
    environment = resolve("http://s:2", None, env)
    assert environment.credentials is not None and environment.credentials.token() == "otc_env"
    del env["OPENTACO_TOKEN"]
    saved = resolve("http://s:2/", None, env)
    assert saved.source is TokenSource.SAVED
    assert saved.credentials is not None and saved.credentials.token() == "eyJ.saved"
    assert saved.warnings == ()
    other = resolve("http://other:2", None, env)
    assert (other.source, other.credentials) == (TokenSource.NONE, None)


def test_a_readable_credentials_file_is_a_warning(tmp_path: Path) -> None:
    """A login file others can read still works, with a warning saying how to fix it."""
    saved_login(tmp_path, "http://s:2", "eyJ.saved", mode=0o644)
    found = resolve("http://s:2", None, {"XDG_CONFIG_HOME": str(tmp_path)})
    [warning] = found.warnings
    assert "chmod 600" in warning


def test_a_damaged_credentials_file_or_a_bad_endpoint_is_a_config_error(tmp_path: Path) -> None:
    """Both stop the provider with a message saying what to change."""
    path = tmp_path / "opentaco" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is damaged"):
        resolve("http://s:2", None, {"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL"):
        resolve("taco.example.com", None, {})
