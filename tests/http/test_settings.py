"""Configuration from environment variables and flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taco_http.parser import build_parser
from taco_http.settings import Settings, SettingsError, from_env, notices


def settings_for(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    return from_env(env or {}, vars(build_parser().parse_args(argv)))


def test_defaults() -> None:
    """With nothing set: SQLite at data/taco.db on 127.0.0.1:8080, 100 versions."""
    s = settings_for([])
    assert (s.host, s.port, s.storage) == ("127.0.0.1", 8080, "sqlite")
    assert s.sqlite_db_path == Path("data/taco.db")
    assert s.max_versions == 100
    assert s.max_state_bytes == 512 * 1024 * 1024


def test_env_then_flags_win() -> None:
    """Environment variables configure; flags override them."""
    env = {"OPENTACO_PORT": "9000", "OPENTACO_STORAGE": "memory", "OPENTACO_MAX_VERSIONS": "7"}
    s = settings_for([], env)
    assert (s.port, s.storage, s.max_versions) == (9000, "memory", 7)
    s = settings_for(["--port", "9100", "--storage", "sqlite"], env)
    assert (s.port, s.storage) == (9100, "sqlite")


def test_go_style_single_dash_flags() -> None:
    """The reference's -storage memory -auth-disable -port N spellings work."""
    s = settings_for(["-storage", "memory", "-auth-disable", "-port", "9200"])
    assert (s.storage, s.auth_disable, s.port) == ("memory", True, 9200)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("OPENTACO_MAX_VERSIONS", "abc"),
        ("OPENTACO_MAX_VERSIONS", "0"),
        ("OPENTACO_PORT", "70000"),
        ("OPENTACO_STORAGE", "postgres"),
        ("OPENTACO_AUTH_DISABLE", "maybe"),
        ("OPENTACO_MAX_STATE_BYTES", "lots"),
        ("OPENTACO_DELETE_GRACE", "soon"),
        ("OPENTACO_LOG_FORMAT", "yaml"),
        ("OPENTACO_METRICS", "private"),
        ("OPENTACO_AUDIT_RETENTION", "forever"),
        ("OPENTACO_RBAC_GROUP_ROLES", "platform"),
        ("OPENTACO_RBAC_GROUP_ROLES", "platform=bad role"),
        ("OPENTACO_RBAC_SUBJECT_ROLES", "alice"),
        ("OPENTACO_RBAC_MAX_AGE", "a while"),
    ],
)
def test_invalid_env_values_are_refused_naming_the_variable(var: str, value: str) -> None:
    """A bad value stops start-up with a message naming the variable (no silent default)."""
    with pytest.raises(SettingsError, match=var):
        from_env({var: value})


def test_units_in_sizes_and_durations() -> None:
    """Sizes take binary units; durations take s/m/h/d/w."""
    s = from_env({"OPENTACO_MAX_STATE_BYTES": "2MiB", "OPENTACO_DELETE_GRACE": "2d"})
    assert s.max_state_bytes == 2 * 1024 * 1024
    assert s.delete_grace_seconds == 2 * 86400


def test_operations_settings() -> None:
    """Log format, who reads /metrics and the audit retention, by variable or flag;
    text logs, public metrics and a year of audit records by default."""
    defaults = settings_for([])
    assert (defaults.log_format, defaults.metrics) == ("text", "public")
    assert defaults.audit_retention_seconds == 365 * 86400
    env = {"OPENTACO_LOG_FORMAT": "JSON", "OPENTACO_METRICS": "auth"}
    s = settings_for(["--audit-retention", "90d"], env)
    assert (s.log_format, s.metrics, s.audit_retention_seconds) == ("json", "auth", 90 * 86400)
    assert settings_for(["--metrics", "off", "--log-format", "text"], env).metrics == "off"


def test_a_bad_log_format_exits_2_naming_it(tmp_path: Path) -> None:
    """OPENTACO_LOG_FORMAT=xml stops opentacosvc with exit 2 and one line naming it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTACO_")}
    proc = subprocess.run(
        [sys.executable, "-m", "taco_http.main"],
        env={**env, "OPENTACO_LOG_FORMAT": "xml"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "opentacosvc: OPENTACO_LOG_FORMAT must be one of text, json, got 'xml'"
    ]


def test_rbac_settings() -> None:
    """The group mapping is parsed into roles per group; the policy cache is
    5 s on S3 and none elsewhere unless configured."""
    s = from_env({"OPENTACO_RBAC_GROUP_ROLES": "platform=admin, devs=reader,devs=ci"})
    assert s.group_roles() == {"platform": ("admin",), "devs": ("reader", "ci")}
    assert s.rbac_max_age() == 0
    assert from_env({"OPENTACO_STORAGE": "s3", "OPENTACO_S3_BUCKET": "b"}).rbac_max_age() == 5
    assert from_env({"OPENTACO_RBAC_MAX_AGE": "30s"}).rbac_max_age() == 30
    flagged = settings_for(
        [
            "--rbac-group-roles",
            "ops=admin",
            "--rbac-subject-roles",
            "a@x=admin",
            "--rbac-max-age",
            "1m",
        ]
    )
    assert (flagged.group_roles(), flagged.rbac_max_age()) == ({"ops": ("admin",)}, 60)
    assert flagged.subject_roles() == {"a@x": ("admin",)}
    with pytest.raises(SettingsError, match="SUBJECT=ROLE"):
        from_env({"OPENTACO_RBAC_SUBJECT_ROLES": "alice"})


def test_cli_reports_a_bad_group_mapping_naming_the_variable(tmp_path: Path) -> None:
    """A malformed OPENTACO_RBAC_GROUP_ROLES stops opentacosvc with exit 2 and
    the variable's name, before anything is opened."""
    proc = subprocess.run(
        [sys.executable, "-m", "taco_http.main"],
        env={
            "OPENTACO_RBAC_GROUP_ROLES": "platform:admin",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "OPENTACO_RBAC_GROUP_ROLES" in proc.stderr and "GROUP=ROLE" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_s3_needs_a_bucket() -> None:
    """Choosing S3 without a bucket is refused at start-up."""
    with pytest.raises(SettingsError, match="bucket"):
        from_env({"OPENTACO_STORAGE": "s3"})


def test_cli_reports_bad_settings_without_traceback(tmp_path: Path) -> None:
    """opentacosvc exits 2 with one clear line for a bad setting."""
    proc = subprocess.run(
        [sys.executable, "-m", "taco_http.main"],
        env={"OPENTACO_MAX_VERSIONS": "abc", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "OPENTACO_MAX_VERSIONS" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_documents_every_variable() -> None:
    """--help names every OPENTACO_* variable the service reads."""
    from taco_http.settings import ENV_VARS

    text = build_parser().format_help()
    for var in ENV_VARS:
        assert var in text


def test_tls_needs_both_files_and_turns_the_issuer_to_https(tmp_path: Path) -> None:
    """A certificate without its key (or the reverse) is refused; with both,
    the service's own URL is https."""
    for env in ({"OPENTACO_TLS_CERT": "c.pem"}, {"OPENTACO_TLS_KEY": "k.pem"}):
        with pytest.raises(SettingsError, match="OPENTACO_TLS_CERT and OPENTACO_TLS_KEY"):
            from_env(env)
    s = settings_for(["--tls-cert", "c.pem", "--tls-key", "k.pem", "--port", "8443"])
    assert (s.tls_cert, s.tls_key, s.tls) == (Path("c.pem"), Path("k.pem"), True)
    assert s.token_issuer() == "https://127.0.0.1:8443"


def test_proxy_trust_secrets_and_the_terraform_token_lifetime() -> None:
    """Forwarded headers are off by default; secrets must be long enough;
    terraform login's tokens live until revoked unless limited."""
    s = settings_for([])
    assert (s.trust_proxy, s.secret_key, s.internal_endpoints_secret) == (False, "", "")
    assert s.terraform_token_ttl_seconds is None
    s = settings_for(
        ["--trust-proxy", "--terraform-token-ttl", "90d"],
        {
            "OPENTACO_SECRET_KEY": "0123456789abcdef",
            "OPENTACO_ENABLE_INTERNAL_ENDPOINTS": "statesman-secret",
        },
    )
    assert (s.trust_proxy, s.secret_key, s.internal_endpoints_secret) == (
        True,
        "0123456789abcdef",
        "statesman-secret",
    )
    assert s.terraform_token_ttl_seconds == 90 * 86400
    for var in ("OPENTACO_SECRET_KEY", "OPENTACO_ENABLE_INTERNAL_ENDPOINTS"):
        for bad in ("short", "has a space in it"):
            with pytest.raises(SettingsError, match=var):
                from_env({var: bad})


@pytest.mark.parametrize("problem", ["missing", "not-pem", "mismatched"])
def test_unusable_tls_files_stop_the_service_with_one_line(tmp_path: Path, problem: str) -> None:
    """An unreadable certificate, a file that is not PEM, or a key that does
    not belong to the certificate: exit 2, one line naming both, no traceback."""
    from tests.tls import issue

    first, second = issue(tmp_path / "a"), issue(tmp_path / "b")
    cert, key = first.cert, first.key
    if problem == "missing":
        cert = tmp_path / "nowhere.pem"
    elif problem == "not-pem":
        key = tmp_path / "junk.pem"
        key.write_text("not a key\n")
    else:
        key = second.key
    proc = subprocess.run(
        [sys.executable, "-m", "taco_http.main", "--tls-cert", str(cert), "--tls-key", str(key)],
        env={
            "PATH": "/usr/bin:/bin",
            "OPENTACO_STORAGE": "memory",
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("opentacosvc:")]
    assert len(lines) == 1 and "OPENTACO_TLS_CERT" in lines[0] and str(cert) in lines[0]


@pytest.mark.parametrize(
    ("raw", "level"),
    [("WARN", "warning"), ("warn", "warning"), ("Info", "info"), ("DEBUG", "debug")],
)
def test_log_levels_in_any_case(raw: str, level: str) -> None:
    """OPENTACO_LOG_LEVEL takes any case and the reference's WARN."""
    assert from_env({"OPENTACO_LOG_LEVEL": raw}).log_level == level
    assert settings_for(["--log-level", raw]).log_level == level


def test_an_s3_bucket_without_a_storage_means_s3() -> None:
    """A bucket alone selects S3; a named storage still wins."""
    assert from_env({"OPENTACO_S3_BUCKET": "b"}).storage == "s3"
    assert settings_for(["--s3-bucket", "b"]).storage == "s3"
    assert from_env({"OPENTACO_S3_BUCKET": "b", "OPENTACO_STORAGE": "memory"}).storage == "memory"


def test_notices_name_typos_and_contradictions() -> None:
    """Unknown variables get the closest known name; S3 settings a storage ignores are named."""
    env = {"OPENTACO_PROT": "1", "OPENTACO_SERVER": "http://x", "OPENTACO_S3_PREFIX": "p"}
    found = [message for _, message in notices(env, {}, from_env(env))]
    assert any("OPENTACO_PROT" in m and "did you mean OPENTACO_PORT?" in m for m in found)
    assert not any("OPENTACO_SERVER" in m for m in found)
    assert any("OPENTACO_S3_PREFIX set, but the storage is sqlite" in m for m in found)
