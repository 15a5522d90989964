"""The service's configuration: environment variables, overridden by flags.

Invalid values stop the service with a message naming the variable; nothing
falls back silently to a default (the Go reference turns a typo in
``OPENTACO_MAX_VERSIONS`` into 10 and a bad S3 set-up into memory storage).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from attrs import frozen

from taco_core.model import RetentionPolicy
from taco_core.service import DEFAULT_MAX_STATE_BYTES, Policy

STORAGE_KINDS = ("sqlite", "memory", "s3")
LOG_FORMATS = ("text", "json")
# Who may read /metrics: anyone who reaches the port (like the probes), only
# callers with a credential, or nobody (the route answers 404).
METRICS_ACCESS = ("public", "auth", "off")


class SettingsError(ValueError):
    """A configuration value is invalid; the message names it."""


@frozen
class Settings:
    """Every setting of ``opentacosvc``, parsed and checked (``from_env``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    storage: str = "sqlite"
    sqlite_db_path: Path = Path("data/taco.db")
    auth_disable: bool = False
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES
    max_versions: int = 100
    delete_grace_seconds: float = 7 * 24 * 3600.0
    quarantine_grace_seconds: float = 7 * 24 * 3600.0
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_region: str = ""
    s3_endpoint: str = ""
    log_level: str = "info"
    log_format: str = "text"
    metrics: str = "public"
    audit_retention_seconds: float = 365 * 24 * 3600.0
    auth_issuer: str = ""
    auth_client_id: str = ""
    auth_auth_url: str = ""
    auth_token_url: str = ""
    auth_jwks_url: str = ""
    public_base_url: str = ""
    tokens_access_ttl_seconds: float = 3600.0
    tokens_refresh_ttl_seconds: float = 30 * 24 * 3600.0
    tokens_key_rotation_seconds: float = 30 * 24 * 3600.0
    tokens_private_key_pem_path: Path | None = None
    tokens_kid: str = ""
    admin_token_path: Path | None = None

    def policy(self) -> Policy:
        return Policy(
            max_state_bytes=self.max_state_bytes,
            retention=RetentionPolicy(
                max_versions=self.max_versions,
                quarantine_grace_seconds=self.quarantine_grace_seconds,
            ),
            delete_grace_seconds=self.delete_grace_seconds,
        )

    def token_issuer(self) -> str:
        """The ``iss`` of our access tokens: the public base URL, or where
        this server listens. Every replica must agree on it."""
        return self.public_base_url or f"http://{self.host}:{self.port}"


# env var -> (field, parser)
def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def parse_positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
    return value


def parse_port(name: str, raw: str) -> int:
    value = parse_positive_int(name, raw)
    if value > 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {raw!r}")
    return value


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(name: str, raw: str) -> int:
    """Bytes, with an optional binary unit: ``536870912``, ``512MiB``, ``512m``."""
    match = _SIZE.match(raw)
    if not match:
        raise SettingsError(f"{name} must be a size such as 536870912 or 512MiB, got {raw!r}")
    unit = (match.group(2) or "").lower()[:1]
    value = int(match.group(1)) * _SIZE_UNITS[unit]
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(name: str, raw: str) -> float:
    """Seconds, or a number with one unit: ``3600``, ``90m``, ``168h``, ``7d``."""
    match = _DURATION.match(raw)
    if not match:
        raise SettingsError(f"{name} must be a duration such as 7d, 168h or 3600s, got {raw!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_positive_duration(name: str, raw: str) -> float:
    value = parse_duration(name, raw)
    if value <= 0:
        raise SettingsError(f"{name} must be a positive duration such as 1h or 30d, got {raw!r}")
    return value


def parse_url(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith(("https://", "http://")):
        raise SettingsError(f"{name} must be an http(s) URL, got {raw!r}")
    return value


def parse_storage(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in STORAGE_KINDS:
        raise SettingsError(f"{name} must be one of {', '.join(STORAGE_KINDS)}, got {raw!r}")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


parse_log_format = _one_of(LOG_FORMATS)
parse_metrics = _one_of(METRICS_ACCESS)


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise SettingsError(f"{name} must not be empty")
    return Path(raw.strip())


ENV_VARS = {
    "OPENTACO_HOST": ("host", _text),
    "OPENTACO_PORT": ("port", parse_port),
    "OPENTACO_STORAGE": ("storage", parse_storage),
    "OPENTACO_SQLITE_DB_PATH": ("sqlite_db_path", _path),
    "OPENTACO_AUTH_DISABLE": ("auth_disable", parse_bool),
    "OPENTACO_MAX_STATE_BYTES": ("max_state_bytes", parse_size),
    "OPENTACO_MAX_VERSIONS": ("max_versions", parse_positive_int),
    "OPENTACO_DELETE_GRACE": ("delete_grace_seconds", parse_duration),
    "OPENTACO_QUARANTINE_GRACE": ("quarantine_grace_seconds", parse_duration),
    "OPENTACO_S3_BUCKET": ("s3_bucket", _text),
    "OPENTACO_S3_PREFIX": ("s3_prefix", _text),
    "OPENTACO_S3_REGION": ("s3_region", _text),
    "OPENTACO_S3_ENDPOINT": ("s3_endpoint", _text),
    "OPENTACO_LOG_LEVEL": ("log_level", _text),
    "OPENTACO_LOG_FORMAT": ("log_format", parse_log_format),
    "OPENTACO_METRICS": ("metrics", parse_metrics),
    "OPENTACO_AUDIT_RETENTION": ("audit_retention_seconds", parse_duration),
    "OPENTACO_AUTH_ISSUER": ("auth_issuer", parse_url),
    "OPENTACO_AUTH_CLIENT_ID": ("auth_client_id", _text),
    "OPENTACO_AUTH_AUTH_URL": ("auth_auth_url", parse_url),
    "OPENTACO_AUTH_TOKEN_URL": ("auth_token_url", parse_url),
    "OPENTACO_AUTH_JWKS_URL": ("auth_jwks_url", parse_url),
    "OPENTACO_PUBLIC_BASE_URL": ("public_base_url", parse_url),
    "OPENTACO_TOKENS_ACCESS_TTL": ("tokens_access_ttl_seconds", parse_positive_duration),
    "OPENTACO_TOKENS_REFRESH_TTL": ("tokens_refresh_ttl_seconds", parse_positive_duration),
    "OPENTACO_TOKENS_KEY_ROTATION": ("tokens_key_rotation_seconds", parse_duration),
    "OPENTACO_TOKENS_PRIVATE_KEY_PEM_PATH": ("tokens_private_key_pem_path", _path),
    "OPENTACO_TOKENS_KID": ("tokens_kid", _text),
    "OPENTACO_ADMIN_TOKEN_PATH": ("admin_token_path", _path),
}


def from_env(environ: Mapping[str, str], overrides: Mapping[str, object] | None = None) -> Settings:
    """Settings from ``OPENTACO_*`` variables, then ``overrides`` (parsed flags)."""
    values: dict[str, object] = {}
    for var, (field_name, parse) in ENV_VARS.items():
        if var in environ:
            values[field_name] = parse(var, environ[var])
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.storage == "s3" and not settings.s3_bucket:
        raise SettingsError("storage s3 needs a bucket: set OPENTACO_S3_BUCKET or --s3-bucket")
    if bool(settings.auth_issuer) != bool(settings.auth_client_id):
        raise SettingsError(
            "OIDC login needs both OPENTACO_AUTH_ISSUER and OPENTACO_AUTH_CLIENT_ID "
            "(--auth-issuer, --auth-client-id)"
        )
    return settings
