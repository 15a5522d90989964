"""``opentacosvc``: the service's entry point.

The store is opened before the server starts, in the same event loop, so a
storage that cannot be reached stops the service with one clear line instead
of a traceback, and never with a silent fallback to another storage.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import uvicorn

from taco_core.errors import StorageUnavailable
from taco_http.app import create_app
from taco_http.parser import build_parser
from taco_http.settings import Settings, SettingsError, from_env
from taco_http.stores import open_store

log = logging.getLogger("opentaco")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def serve(settings: Settings) -> None:
    store = await open_store(settings)
    if settings.storage == "sqlite":
        log.info("storage: SQLite at %s", settings.sqlite_db_path.resolve())
    elif settings.storage == "memory":
        log.warning("storage: memory; every state is lost when the process stops")
    else:
        log.info("storage: S3 bucket %s prefix %r", settings.s3_bucket, settings.s3_prefix)
    log.warning(
        "requests are NOT authenticated: anyone who can reach %s:%d can read and write every state",
        settings.host,
        settings.port,
    )
    app = create_app(settings, store=store)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
        log_config=None,
    )
    await uvicorn.Server(config).serve()


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
