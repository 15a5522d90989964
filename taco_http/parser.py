"""The ``opentacosvc`` command line (also read by argparse-manpage).

Every flag mirrors an ``OPENTACO_*`` environment variable; a flag wins over
the variable. The Go reference's single-dash spellings (``-storage memory
-auth-disable``) are accepted as aliases so existing scripts keep working.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from taco_http import settings as s

EPILOG = """\
examples:
  opentacosvc                              SQLite at ./data/taco.db on 127.0.0.1:8080
  opentacosvc --storage memory --auth-disable --port 9000
  opentacosvc --auth-issuer https://example.okta.com --auth-client-id 0oa1b2c3
  OPENTACO_SQLITE_DB_PATH=/var/lib/opentaco/taco.db opentacosvc --host 0.0.0.0

  opentacosvc --tls-cert cert.pem --tls-key key.pem --port 8443
                                           HTTPS, for Terraform's remote and cloud backends

Terraform then uses  backend "http" { address = "http://127.0.0.1:8080/v1/backend/myapp/prod" ... }
or, over HTTPS,      cloud { hostname = "taco.example.com" organization = "myapp" ... }

Secrets are read from the environment only: OPENTACO_SECRET_KEY (signed URLs, OAuth state),
OPENTACO_ENABLE_INTERNAL_ENDPOINTS (the internal API's webhook secret).
"""


def _typed(parse: Callable[[str, str], object]) -> Callable[[str], object]:
    """Adapt a settings parser to argparse (errors become usage errors)."""

    def convert(raw: str) -> object:
        try:
            return parse("value", raw)
        except s.SettingsError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("value ", "", 1)) from None

    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opentacosvc",
        description="OpenTaco state service: a Terraform HTTP backend, a "
        "Terraform-Cloud-compatible API and a management API over durable storage "
        "(SQLite by default).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", "-host", help="address to listen on (env OPENTACO_HOST, default 127.0.0.1)")
    add(
        "--port",
        "-port",
        type=_typed(s.parse_port),
        help="TCP port (env OPENTACO_PORT, default 8080)",
    )
    add(
        "--storage",
        "-storage",
        type=_typed(s.parse_storage),
        help="storage adapter: sqlite, memory or s3 (env OPENTACO_STORAGE, default sqlite)",
    )
    add(
        "--sqlite-db-path",
        "-sqlite-db-path",
        type=Path,
        dest="sqlite_db_path",
        help="SQLite database file, created with its folder on first start "
        "(env OPENTACO_SQLITE_DB_PATH, default data/taco.db)",
    )
    add(
        "--auth-disable",
        "-auth-disable",
        action="store_const",
        const=True,
        dest="auth_disable",
        help="serve without authentication: anyone who can reach the port reads and writes "
        "every state (env OPENTACO_AUTH_DISABLE)",
    )
    add(
        "--auth-issuer",
        "-auth-issuer",
        type=_typed(s.parse_url),
        dest="auth_issuer",
        help="OIDC provider for `taco login`, e.g. https://example.okta.com "
        "(env OPENTACO_AUTH_ISSUER)",
    )
    add(
        "--auth-client-id",
        "-auth-client-id",
        dest="auth_client_id",
        help="OIDC client ID of the CLI; ID tokens must name it as audience "
        "(env OPENTACO_AUTH_CLIENT_ID)",
    )
    add(
        "--auth-auth-url",
        type=_typed(s.parse_url),
        dest="auth_auth_url",
        help="authorization endpoint, when not in the provider's discovery document "
        "(env OPENTACO_AUTH_AUTH_URL)",
    )
    add(
        "--auth-token-url",
        type=_typed(s.parse_url),
        dest="auth_token_url",
        help="token endpoint, when not in the provider's discovery document "
        "(env OPENTACO_AUTH_TOKEN_URL)",
    )
    add(
        "--auth-jwks-url",
        type=_typed(s.parse_url),
        dest="auth_jwks_url",
        help="the provider's signing keys, when not in its discovery document "
        "(env OPENTACO_AUTH_JWKS_URL)",
    )
    add(
        "--public-base-url",
        type=_typed(s.parse_url),
        dest="public_base_url",
        help="this service's public URL: the issuer of its tokens and the base of every URL "
        "it hands out (upload URLs, OAuth redirects); the same on every replica "
        "(env OPENTACO_PUBLIC_BASE_URL, default: the URL each request came to)",
    )
    add(
        "--tokens-access-ttl",
        type=_typed(s.parse_positive_duration),
        dest="tokens_access_ttl_seconds",
        help="lifetime of access tokens (env OPENTACO_TOKENS_ACCESS_TTL, default 1h)",
    )
    add(
        "--tokens-refresh-ttl",
        type=_typed(s.parse_positive_duration),
        dest="tokens_refresh_ttl_seconds",
        help="how long a login session lasts without use "
        "(env OPENTACO_TOKENS_REFRESH_TTL, default 720h)",
    )
    add(
        "--tokens-key-rotation",
        type=_typed(s.parse_duration),
        dest="tokens_key_rotation_seconds",
        help="age at which the token signing key is replaced, 0 for never "
        "(env OPENTACO_TOKENS_KEY_ROTATION, default 30d)",
    )
    add(
        "--tokens-private-key-pem-path",
        type=Path,
        dest="tokens_private_key_pem_path",
        help="EC P-256 private key (PEM) that signs access tokens, instead of keys kept in "
        "the storage (env OPENTACO_TOKENS_PRIVATE_KEY_PEM_PATH)",
    )
    add(
        "--tokens-kid",
        dest="tokens_kid",
        help="key ID of that key (env OPENTACO_TOKENS_KID, default its RFC 7638 thumbprint)",
    )
    add(
        "--admin-token-path",
        type=Path,
        dest="admin_token_path",
        help="file that receives the bootstrap admin token on first start "
        "(env OPENTACO_ADMIN_TOKEN_PATH, default admin-token beside the SQLite database)",
    )
    add(
        "--tls-cert",
        type=Path,
        dest="tls_cert",
        help="serve HTTPS with this PEM certificate (chain); Terraform's remote and cloud "
        "backends need it (env OPENTACO_TLS_CERT)",
    )
    add(
        "--tls-key",
        type=Path,
        dest="tls_key",
        help="the certificate's PEM private key (env OPENTACO_TLS_KEY)",
    )
    add(
        "--trust-proxy",
        action="store_const",
        const=True,
        dest="trust_proxy",
        help="behind a reverse proxy: take the client's address, scheme and host from "
        "X-Forwarded-For, -Proto and -Host (env OPENTACO_TRUST_PROXY)",
    )
    add(
        "--terraform-token-ttl",
        type=_typed(s.parse_positive_duration),
        dest="terraform_token_ttl_seconds",
        help="lifetime of the API tokens `terraform login` obtains, e.g. 90d "
        "(env OPENTACO_TERRAFORM_TOKEN_TTL, default: until revoked)",
    )
    add(
        "--rbac-group-roles",
        type=_typed(s.parse_group_roles_setting),
        dest="rbac_group_roles",
        metavar="GROUP=ROLE,...",
        help="roles given to the members of identity-provider groups (the ID token's "
        "groups claim), e.g. platform=admin,devs=reader (env OPENTACO_RBAC_GROUP_ROLES)",
    )
    add(
        "--rbac-subject-roles",
        type=_typed(s.parse_subject_roles_setting),
        dest="rbac_subject_roles",
        metavar="SUBJECT=ROLE,...",
        help="roles given to subjects by configuration, e.g. the first admins when the "
        "identity provider sends no groups: alice@example.com=admin "
        "(env OPENTACO_RBAC_SUBJECT_ROLES)",
    )
    add(
        "--rbac-max-age",
        type=_typed(s.parse_duration),
        dest="rbac_max_age_seconds",
        metavar="DURATION",
        help="how long a decision may reuse the RBAC policy it loaded; edits on other "
        "replicas show within this long (env OPENTACO_RBAC_MAX_AGE, default 5s on S3, "
        "0 elsewhere)",
    )
    add(
        "--max-state-bytes",
        type=_typed(s.parse_size),
        dest="max_state_bytes",
        help="largest accepted state, e.g. 512MiB (env OPENTACO_MAX_STATE_BYTES)",
    )
    add(
        "--max-versions",
        type=_typed(s.parse_positive_int),
        dest="max_versions",
        help="versions kept per unit (env OPENTACO_MAX_VERSIONS, default 100)",
    )
    add(
        "--delete-grace",
        type=_typed(s.parse_duration),
        dest="delete_grace_seconds",
        help="how long deleted units stay recoverable, e.g. 7d "
        "(env OPENTACO_DELETE_GRACE, default 7d)",
    )
    add(
        "--quarantine-grace",
        type=_typed(s.parse_duration),
        dest="quarantine_grace_seconds",
        help="how long writes refused by the clobber guard are kept before pruning may drop "
        "them (env OPENTACO_QUARANTINE_GRACE, default 7d)",
    )
    add(
        "--graph-reconcile-interval",
        type=_typed(s.parse_duration),
        dest="graph_reconcile_seconds",
        help="how often the dependency graph is compared with the units' current states, "
        "catching writes made by other replicas; 0 for only at start "
        "(env OPENTACO_GRAPH_RECONCILE_INTERVAL, default 60s)",
    )
    add(
        "--webhook-urls",
        type=_typed(s.parse_url_list),
        dest="webhook_urls",
        metavar="URLS",
        help="comma-separated URLs that receive a signed JSON POST when a unit's dependency "
        "status changes; needs OPENTACO_WEBHOOK_SECRET (env OPENTACO_WEBHOOK_URLS)",
    )
    add(
        "--read-timeout",
        type=_typed(s.parse_positive_duration),
        dest="read_timeout_seconds",
        help="how long a client has to send a request's headers, and the longest pause "
        "inside its body, before it is dropped (env OPENTACO_READ_TIMEOUT, default 20s)",
    )
    add(
        "--idle-timeout",
        type=_typed(s.parse_positive_duration),
        dest="idle_timeout_seconds",
        help="how long a kept-alive connection may idle between requests "
        "(env OPENTACO_IDLE_TIMEOUT, default 5s)",
    )
    add(
        "--max-connections",
        type=_typed(s.parse_positive_int),
        dest="max_connections",
        help="open connections served at once; beyond, new ones get 503 "
        "(env OPENTACO_MAX_CONNECTIONS, default 1000)",
    )
    add(
        "--max-quarantined",
        type=_typed(s.parse_positive_int),
        dest="max_quarantined",
        help="refused writes kept per unit within the quarantine grace; beyond, the oldest "
        "go first (env OPENTACO_MAX_QUARANTINED, default 20)",
    )
    add("--s3-bucket", "-s3-bucket", dest="s3_bucket", help="S3 bucket (env OPENTACO_S3_BUCKET)")
    add(
        "--s3-prefix",
        "-s3-prefix",
        dest="s3_prefix",
        help="key prefix inside the bucket (env OPENTACO_S3_PREFIX)",
    )
    add("--s3-region", "-s3-region", dest="s3_region", help="S3 region (env OPENTACO_S3_REGION)")
    add(
        "--s3-endpoint",
        "-s3-endpoint",
        dest="s3_endpoint",
        help="S3-compatible endpoint URL, path-style (env OPENTACO_S3_ENDPOINT)",
    )
    add(
        "--s3-timeout",
        type=_typed(s.parse_positive_duration),
        dest="s3_timeout_seconds",
        help="how long to wait for S3 to connect or to go on answering before an attempt "
        "fails; each request is tried twice at most (env OPENTACO_S3_TIMEOUT, default 10s)",
    )
    add(
        "--s3-root-bucket",
        type=_typed(s.parse_bucket),
        dest="s3_root_bucket",
        help="bucket name at the S3-compatible endpoint /s3 that holds every unit; any other "
        "bucket name B holds the units under B/ (env OPENTACO_S3_ROOT_BUCKET, default opentaco)",
    )
    add(
        "--s3-creds-ttl",
        type=_typed(s.parse_positive_duration),
        dest="s3_creds_ttl_seconds",
        help="lifetime of the S3 credentials `taco creds` hands out, never beyond the token "
        "that asked (env OPENTACO_S3_CREDS_TTL, default 1h)",
    )
    add(
        "--s3-upload-expiry",
        type=_typed(s.parse_positive_duration),
        dest="s3_upload_expiry_seconds",
        help="age at which an unfinished multipart upload to /s3 is dropped "
        "(env OPENTACO_S3_UPLOAD_EXPIRY, default 24h)",
    )
    add(
        "--log-level",
        "-log-level",
        dest="log_level",
        type=_typed(s.parse_log_level),
        help="log level: debug, info, warning (or warn), error or critical, in any case "
        "(env OPENTACO_LOG_LEVEL, default info)",
    )
    add(
        "--log-format",
        type=_typed(s.parse_log_format),
        dest="log_format",
        help="text (default) or json: one JSON object per line, access log included "
        "(env OPENTACO_LOG_FORMAT)",
    )
    add(
        "--metrics",
        type=_typed(s.parse_metrics),
        dest="metrics",
        help="who may read /metrics: public (default, like the probes), auth (a credential), "
        "or off (env OPENTACO_METRICS)",
    )
    add(
        "--audit-retention",
        type=_typed(s.parse_duration),
        dest="audit_retention_seconds",
        help="how long audit records are kept, e.g. 90d; 0 keeps them forever "
        "(env OPENTACO_AUDIT_RETENTION, default 365d)",
    )
    return parser
