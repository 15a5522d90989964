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
import ssl
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


def check_tls(settings: Settings) -> None:
    """Load the certificate and key once, so an unreadable file or a key that
    does not match its certificate stops the service with one line naming
    them (``SettingsError``) instead of a traceback from the server."""
    if settings.tls_cert is None or settings.tls_key is None:
        return
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SettingsError(
            f"OPENTACO_TLS_CERT={settings.tls_cert} / OPENTACO_TLS_KEY={settings.tls_key}: "
            f"cannot use them ({reason}); give a readable PEM certificate and its matching "
            "PEM private key"
        ) from None


async def serve(settings: Settings) -> None:
    configured_key(settings, datetime.now(UTC))  # a bad key file stops us before any I/O
    check_tls(settings)
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
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            # X-Forwarded-For and -Proto are taken only from a proxy the
            # operator vouches for, never by default (uvicorn would trust
            # 127.0.0.1 otherwise).
            proxy_headers=settings.trust_proxy,
            forwarded_allow_ips="*" if settings.trust_proxy else None,
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
