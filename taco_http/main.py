"""``opentacosvc``: the service's entry point.

The adapters are opened (``taco_http.wiring.open_adapters``) before the server
starts, in the same event loop, and handed to the app, so a storage that
cannot be reached (or a signing key file that cannot be used) stops the
service with one clear line instead of a traceback, and never with a silent
fallback to another storage.

Logging is configured once the settings are read (``taco_http.logs``), in the
chosen format, for uvicorn's loggers too. uvicorn's access log is off: the
app writes its own (``taco_http.telemetry``), which names the route template,
the duration and the request ID.
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
from taco_http.logs import configure_logging
from taco_http.parser import build_parser
from taco_http.settings import Settings, SettingsError, from_env
from taco_http.wiring import configured_key, open_adapters

log = logging.getLogger("opentaco")


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
            access_log=False,
        )
        await uvicorn.Server(config).serve()


def _log_auth(settings: Settings) -> None:
    if settings.auth_disable:
        log.warning(
            "AUTHENTICATION IS DISABLED (--auth-disable / OPENTACO_AUTH_DISABLE): anyone who "
            "can reach %s:%d can read and write every state",
            settings.host,
            settings.port,
        )
    elif settings.auth_issuer:
        log.info(
            "authentication: OIDC login via %s (client %s) and API tokens",
            settings.auth_issuer,
            settings.auth_client_id,
        )
    else:
        log.info("authentication: API tokens (no OIDC provider configured)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = from_env(os.environ, vars(args))
    except SettingsError as exc:
        print(f"opentacosvc: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except SettingsError as exc:
        _fatal(settings, str(exc))
        return 2
    except StorageUnavailable as exc:
        _fatal(settings, f"cannot open {settings.storage} storage: {exc.message}")
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _fatal(settings: Settings, message: str) -> None:
    """Why the service stops: one plain line, or one JSON line in JSON logs."""
    if settings.log_format == "json":
        log.critical("%s", message)
    else:
        print(f"opentacosvc: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
