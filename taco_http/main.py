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
import math
import os
import resource
import ssl
import sys
from datetime import UTC, datetime

import uvicorn

from taco_core.errors import StorageUnavailable
from taco_http.app import create_app
from taco_http.connections import guarded_protocol, quiet_accept_errors
from taco_http.logs import configure_logging
from taco_http.parser import build_parser
from taco_http.settings import Settings, SettingsError, from_env, notices
from taco_http.wiring import configured_key, open_adapters

log = logging.getLogger("opentaco")


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
    quiet_accept_errors(asyncio.get_running_loop())
    _check_descriptors(settings)
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
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            # X-Forwarded-For and -Proto are taken only from a proxy the
            # operator vouches for, never by default (uvicorn would trust
            # 127.0.0.1 otherwise).
            proxy_headers=settings.trust_proxy,
            forwarded_allow_ips="*" if settings.trust_proxy else None,
            http=guarded_protocol(
                read_timeout=settings.read_timeout_seconds,
                max_connections=settings.max_connections,
            ),
            timeout_keep_alive=math.ceil(settings.idle_timeout_seconds),
            # uvicorn answers 503 from this many (connections or requests in
            # progress) on; ours refuses connection number max_connections + 1.
            limit_concurrency=settings.max_connections + 1,
        )
        await uvicorn.Server(config).serve()


def _check_descriptors(settings: Settings) -> None:
    """Warn when the open-file limit is below the connection limit: the service
    would run out of descriptors (and refuse everyone) before refusing the
    connections over its limit with a clear 503."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Beside its connections the service holds the database, logs and the listener.
    if soft != resource.RLIM_INFINITY and settings.max_connections + 64 > soft:
        log.warning(
            "the open-file limit (%d, ulimit -n) leaves room for fewer connections than "
            "OPENTACO_MAX_CONNECTIONS=%d: raise the limit or lower the setting",
            soft,
            settings.max_connections,
        )


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
    # Everything the service creates is its own: the database and its WAL,
    # the admin token, any temporary file SQLite makes.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        settings = from_env(os.environ, vars(args))
    except SettingsError as exc:
        print(f"opentacosvc: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    for level, message in notices(os.environ, vars(args), settings):
        log.log(level, message)
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
