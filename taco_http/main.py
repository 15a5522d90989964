"""``opentacosvc``: the service's entry point.

The adapters are opened (``taco_http.wiring.open_adapters``) before the server
starts, in the same event loop, and handed to the app, so a storage that
cannot be reached (or a signing key file that cannot be used) stops the
service with one clear line instead of a traceback, and never with a silent
fallback to another storage.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime

import uvicorn

from taco_core.errors import StorageUnavailable
from taco_http.app import create_app
from taco_http.parser import build_parser
from taco_http.settings import Settings, SettingsError, from_env
from taco_http.wiring import configured_key, open_adapters

log = logging.getLogger("opentaco")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # botocore narrates credential lookups at INFO; keep start-up output to our own lines.
    for noisy in ("botocore", "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


async def serve(settings: Settings) -> None:
    configured_key(settings, datetime.now(UTC))  # a bad key file stops us before any I/O
    async with open_adapters(settings) as adapters:
        _log_auth(settings)
        config = uvicorn.Config(
            create_app(settings, adapters=adapters),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            lifespan="on",
            timeout_graceful_shutdown=10,
            server_header=False,
            log_config=None,
        )
        await uvicorn.Server(config).serve()


def _log_auth(settings: Settings) -> None:
    if settings.auth_disable:
        log.warning(
            "AUTHENTICATION IS DISABLED (--auth-disable / OPENTACO_AUTH_DISABLE), AND WITH IT "
            "AUTHORIZATION (RBAC): anyone who can reach %s:%d can read and write every state",
            settings.host,
            settings.port,
        )
        return
    if settings.auth_issuer:
        log.info(
            "authentication: OIDC login via %s (client %s) and API tokens",
            settings.auth_issuer,
            settings.auth_client_id,
        )
    else:
        log.info("authentication: API tokens (no OIDC provider configured)")
    log.info(
        "authorization: RBAC, deny by default; group roles: %s; subject roles: %s; "
        "policy reused for %gs",
        settings.rbac_group_roles or "none",
        settings.rbac_subject_roles or "none",
        settings.rbac_max_age(),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = from_env(os.environ, vars(args))
    except SettingsError as exc:
        print(f"opentacosvc: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings))
    except SettingsError as exc:
        print(f"opentacosvc: {exc}", file=sys.stderr)
        return 2
    except StorageUnavailable as exc:
        print(
            f"opentacosvc: cannot open {settings.storage} storage: {exc.message}", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
