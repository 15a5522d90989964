"""The service's configuration: environment variables, overridden by flags.

Invalid values stop the service with a message naming the variable; nothing
falls back silently to a default (the Go reference turns a typo in
``OPENTACO_MAX_VERSIONS`` into 10 and a bad S3 set-up into memory storage).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from attrs import frozen

from taco_core.errors import InvalidInput
from taco_core.model import RetentionPolicy
from taco_core.rbac import GroupRoles, parse_group_roles
from taco_core.service import DEFAULT_MAX_STATE_BYTES, Policy

STORAGE_KINDS = ("sqlite", "memory", "s3")
LOG_FORMATS = ("text", "json")
# Who may read /metrics: anyone who reaches the port (like the probes), only
# callers with a credential, or nobody (the route answers 404).
METRICS_ACCESS = ("public", "auth", "off")

# How long a replica on S3 reuses the RBAC policy it loaded before loading it
# again: every decision would otherwise be a GET. An edit made on this replica
# shows at once; one made on another replica shows within this long.
S3_RBAC_MAX_AGE_SECONDS = 5.0


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
    max_quarantined: int = 20
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_region: str = ""
    s3_endpoint: str = ""
    s3_timeout_seconds: float = 10.0
    log_level: str = "info"
    log_format: str = "text"
    metrics: str = "public"
    audit_retention_seconds: float = 365 * 24 * 3600.0
    read_timeout_seconds: float = 20.0
    idle_timeout_seconds: float = 5.0
    max_connections: int = 1000
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
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trust_proxy: bool = False
    # HMAC key of signed URLs and of `terraform login`'s OAuth state and
    # codes; without it, a random key kept in the storage is used.
    secret_key: str = ""
    # The internal API's webhook secret; setting it enables /internal/api.
    internal_endpoints_secret: str = ""
    terraform_token_ttl_seconds: float | None = None
    s3_root_bucket: str = "opentaco"
    s3_creds_ttl_seconds: float = 3600.0
    s3_upload_expiry_seconds: float = 24 * 3600.0
    rbac_group_roles: str = ""
    rbac_subject_roles: str = ""
    rbac_max_age_seconds: float | None = None
    graph_reconcile_seconds: float = 60.0
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = ""

    def policy(self) -> Policy:
        return Policy(
            max_state_bytes=self.max_state_bytes,
            retention=RetentionPolicy(
                max_versions=self.max_versions,
                quarantine_grace_seconds=self.quarantine_grace_seconds,
                max_quarantined=self.max_quarantined,
            ),
            delete_grace_seconds=self.delete_grace_seconds,
        )

    @property
    def tls(self) -> bool:
        """Whether the service itself serves HTTPS."""
        return self.tls_cert is not None

    def group_roles(self) -> GroupRoles:
        """``OPENTACO_RBAC_GROUP_ROLES`` as a mapping (checked by ``from_env``)."""
        return parse_group_roles(self.rbac_group_roles)

    def subject_roles(self) -> GroupRoles:
        """``OPENTACO_RBAC_SUBJECT_ROLES`` as a mapping (checked by ``from_env``)."""
        return parse_group_roles(self.rbac_subject_roles)

    def rbac_max_age(self) -> float:
        """Seconds a decision may reuse a loaded RBAC policy: as configured,
        else ``S3_RBAC_MAX_AGE_SECONDS`` on S3 and 0 (load every time: a
        cheap local read) on SQLite and memory."""
        if self.rbac_max_age_seconds is not None:
            return self.rbac_max_age_seconds
        return S3_RBAC_MAX_AGE_SECONDS if self.storage == "s3" else 0.0

    def token_issuer(self) -> str:
        """The ``iss`` of our access tokens: the public base URL, or where
        this server listens. Every replica must agree on it."""
        scheme = "https" if self.tls else "http"
        return self.public_base_url or f"{scheme}://{self.host}:{self.port}"


# env var -> (field, parser)
def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


# The largest number a setting takes: a signed 64-bit integer.
_MAX_SETTING = 2**63 - 1


def parse_positive_int(name: str, raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(_MAX_SETTING)):
        raise SettingsError(f"{name} must be a positive integer, got {raw[:40]!r}")
    value = int(text)
    if not 0 < value <= _MAX_SETTING:
        raise SettingsError(f"{name} must be a positive integer, got {raw[:40]!r}")
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
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > len(str(_MAX_SETTING)) or int(digits) * _SIZE_UNITS[unit] > _MAX_SETTING:
        raise SettingsError(f"{name} is too large, got {raw[:40]!r}")
    value = int(digits) * _SIZE_UNITS[unit]
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# A century: longer than any grace period or lifetime means, and short enough
# that now plus it is still a date.
MAX_DURATION_DAYS = 36500


def parse_duration(name: str, raw: str) -> float:
    """Seconds, or a number with one unit: ``3600``, ``90m``, ``168h``, ``7d``;
    at most ``MAX_DURATION_DAYS``."""
    match = _DURATION.match(raw)
    if not match:
        raise SettingsError(f"{name} must be a duration such as 7d, 168h or 3600s, got {raw!r}")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds > MAX_DURATION_DAYS * 86400:
        raise SettingsError(f"{name} must be at most {MAX_DURATION_DAYS}d, got {raw!r}")
    return seconds


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


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Spellings other tools use (the Go reference's WARN).
_LOG_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical"}


def parse_log_level(name: str, raw: str) -> str:
    """A log level in any case; ``WARN`` is ``warning``."""
    value = raw.strip().lower()
    value = _LOG_LEVEL_ALIASES.get(value, value)
    if value not in LOG_LEVELS:
        raise SettingsError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return value


def parse_url_list(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs; blanks between commas are ignored."""
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        if not url.startswith(("https://", "http://")) or len(url.split("://", 1)[1]) == 0:
            raise SettingsError(f"{name} must be comma-separated http(s) URLs, got {url!r}")
    return urls


def _secret(name: str, raw: str) -> str:
    return raw


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


_BUCKET = re.compile(r"[A-Za-z0-9._-]+")


def parse_bucket(name: str, raw: str) -> str:
    """A bucket name of the S3 endpoint: one unit-ID segment (it names the
    units' root or a top-level namespace)."""
    value = raw.strip()
    if not _BUCKET.fullmatch(value) or value in (".", "..") or "__" in value:
        raise SettingsError(
            f"{name} must be a bucket name of letters, digits, '.', '_' and '-' "
            f"(and no '__'), got {raw!r}"
        )
    return value


def parse_group_roles_setting(name: str, raw: str) -> str:
    """``GROUP=ROLE[,GROUP=ROLE...]`` (``taco_core.rbac.parse_group_roles``),
    checked and kept as text."""
    try:
        parse_group_roles(raw, setting=name)
    except InvalidInput as exc:
        raise SettingsError(exc.message) from None
    return raw.strip()


def parse_subject_roles_setting(name: str, raw: str) -> str:
    """``SUBJECT=ROLE[,SUBJECT=ROLE...]``, checked and kept as text."""
    try:
        parse_group_roles(raw, setting=name, example="SUBJECT=ROLE, e.g. alice@example.com=admin")
    except InvalidInput as exc:
        raise SettingsError(exc.message) from None
    return raw.strip()


def _text(name: str, raw: str) -> str:
    return raw.strip()


_MIN_SECRET = 8


def parse_secret(name: str, raw: str) -> str:
    """A shared secret: kept as given (no trimming inside), at least 8
    characters, no whitespace; empty means unset."""
    value = raw.strip()
    if not value:
        return ""
    if len(value) < _MIN_SECRET or any(c.isspace() for c in value):
        raise SettingsError(
            f"{name} must be at least {_MIN_SECRET} characters without spaces "
            "(use a long random value, e.g. from `openssl rand -hex 32`)"
        )
    return value


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
    "OPENTACO_MAX_QUARANTINED": ("max_quarantined", parse_positive_int),
    "OPENTACO_S3_BUCKET": ("s3_bucket", _text),
    "OPENTACO_S3_PREFIX": ("s3_prefix", _text),
    "OPENTACO_S3_REGION": ("s3_region", _text),
    "OPENTACO_S3_ENDPOINT": ("s3_endpoint", _text),
    "OPENTACO_S3_TIMEOUT": ("s3_timeout_seconds", parse_positive_duration),
    "OPENTACO_LOG_LEVEL": ("log_level", parse_log_level),
    "OPENTACO_LOG_FORMAT": ("log_format", parse_log_format),
    "OPENTACO_METRICS": ("metrics", parse_metrics),
    "OPENTACO_AUDIT_RETENTION": ("audit_retention_seconds", parse_duration),
    "OPENTACO_READ_TIMEOUT": ("read_timeout_seconds", parse_positive_duration),
    "OPENTACO_IDLE_TIMEOUT": ("idle_timeout_seconds", parse_positive_duration),
    "OPENTACO_MAX_CONNECTIONS": ("max_connections", parse_positive_int),
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
    "OPENTACO_TLS_CERT": ("tls_cert", _path),
    "OPENTACO_TLS_KEY": ("tls_key", _path),
    "OPENTACO_TRUST_PROXY": ("trust_proxy", parse_bool),
    "OPENTACO_SECRET_KEY": ("secret_key", parse_secret),
    "OPENTACO_ENABLE_INTERNAL_ENDPOINTS": ("internal_endpoints_secret", parse_secret),
    "OPENTACO_TERRAFORM_TOKEN_TTL": ("terraform_token_ttl_seconds", parse_positive_duration),
    "OPENTACO_S3_ROOT_BUCKET": ("s3_root_bucket", parse_bucket),
    "OPENTACO_S3_CREDS_TTL": ("s3_creds_ttl_seconds", parse_positive_duration),
    "OPENTACO_S3_UPLOAD_EXPIRY": ("s3_upload_expiry_seconds", parse_positive_duration),
    "OPENTACO_RBAC_GROUP_ROLES": ("rbac_group_roles", parse_group_roles_setting),
    "OPENTACO_RBAC_SUBJECT_ROLES": ("rbac_subject_roles", parse_subject_roles_setting),
    "OPENTACO_RBAC_MAX_AGE": ("rbac_max_age_seconds", parse_duration),
    "OPENTACO_GRAPH_RECONCILE_INTERVAL": ("graph_reconcile_seconds", parse_duration),
    "OPENTACO_WEBHOOK_URLS": ("webhook_urls", parse_url_list),
    "OPENTACO_WEBHOOK_SECRET": ("webhook_secret", _secret),
}


# Variables of the same family that other programs read: not typos.
OTHER_PROGRAMS_VARS = frozenset({"OPENTACO_SERVER", "OPENTACO_TOKEN"})
_S3_FIELDS = ("s3_bucket", "s3_prefix", "s3_region", "s3_endpoint")


def _given(values: Mapping[str, object], field_name: str) -> bool:
    return bool(values.get(field_name))


def from_env(environ: Mapping[str, str], overrides: Mapping[str, object] | None = None) -> Settings:
    """Settings from ``OPENTACO_*`` variables, then ``overrides`` (parsed flags).

    Without a storage named, an S3 bucket chooses S3 storage: settings that
    point at a bucket must never be served from a local file instead.
    """
    values: dict[str, object] = {}
    for var, (field_name, parse) in ENV_VARS.items():
        if var in environ:
            values[field_name] = parse(var, environ[var])
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    if "storage" not in values and _given(values, "s3_bucket"):
        values["storage"] = "s3"
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.storage == "s3" and not settings.s3_bucket:
        raise SettingsError("storage s3 needs a bucket: set OPENTACO_S3_BUCKET or --s3-bucket")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise SettingsError(
            "TLS needs both a certificate and its key: set OPENTACO_TLS_CERT and "
            "OPENTACO_TLS_KEY (--tls-cert, --tls-key)"
        )
    if settings.webhook_urls and not settings.webhook_secret.strip():
        raise SettingsError(
            "OPENTACO_WEBHOOK_URLS needs OPENTACO_WEBHOOK_SECRET: every notification is "
            "signed with it (X-OpenTaco-Signature) so receivers can tell it came from here"
        )
    if bool(settings.auth_issuer) != bool(settings.auth_client_id):
        raise SettingsError(
            "OIDC login needs both OPENTACO_AUTH_ISSUER and OPENTACO_AUTH_CLIENT_ID "
            "(--auth-issuer, --auth-client-id)"
        )
    return settings


def notices(
    environ: Mapping[str, str], overrides: Mapping[str, object], settings: Settings
) -> list[tuple[int, str]]:
    """What start-up should tell the operator about the configuration, as
    (logging level, message): unknown ``OPENTACO_*`` variables (with the
    closest known name), settings the chosen storage ignores, and storage
    chosen by the settings rather than named."""
    found: list[tuple[int, str]] = []
    known = [*ENV_VARS, *OTHER_PROGRAMS_VARS]
    for var in sorted(environ):
        if var.startswith("OPENTACO_") and var not in known:
            close = difflib.get_close_matches(var, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            found.append(
                (logging.WARNING, f"{var} is not a setting of opentacosvc and is ignored{hint}")
            )
    storage_named = "OPENTACO_STORAGE" in environ or overrides.get("storage") is not None
    if settings.storage == "s3" and not storage_named:
        found.append(
            (
                logging.INFO,
                "storage: s3, because an S3 bucket is set (OPENTACO_S3_BUCKET or --s3-bucket) "
                "and no storage is named",
            )
        )
    s3_set = [f for f in _S3_FIELDS if getattr(settings, f)]
    if settings.storage != "s3" and s3_set:
        names = ", ".join(f"OPENTACO_{f.upper()}" for f in s3_set)
        why = (
            f"OPENTACO_STORAGE={settings.storage}"
            if storage_named
            else "the default; S3 needs OPENTACO_S3_BUCKET"
        )
        found.append(
            (
                logging.WARNING,
                f"{names} set, but the storage is {settings.storage} ({why}): "
                "the S3 settings are ignored",
            )
        )
    return found
