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
  OPENTACO_SQLITE_DB_PATH=/var/lib/opentaco/taco.db opentacosvc --host 0.0.0.0

Terraform then uses  backend "http" { address = "http://127.0.0.1:8080/v1/backend/myapp/prod" ... }
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
        description="OpenTaco state service: a Terraform HTTP backend and management API "
        "over durable storage (SQLite by default).",
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
        help="serve without authentication (env OPENTACO_AUTH_DISABLE)",
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
        "--log-level",
        "-log-level",
        dest="log_level",
        choices=["debug", "info", "warning", "error"],
        help="log level (env OPENTACO_LOG_LEVEL, default info)",
    )
    return parser
