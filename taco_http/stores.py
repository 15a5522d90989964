"""Choosing and opening the configured storage adapter."""

from __future__ import annotations

from taco_adapters.memory import MemoryStateStore
from taco_adapters.sqlite import SqliteStateStore
from taco_core.ports import StateStore
from taco_http.settings import Settings


async def open_store(settings: Settings) -> StateStore:
    """Open the adapter ``settings.storage`` names; ``StorageUnavailable`` if it
    cannot be reached (the service then refuses to start)."""
    if settings.storage == "memory":
        return MemoryStateStore()
    if settings.storage == "s3":
        from taco_adapters.s3 import S3StateStore

        s3: StateStore = await S3StateStore.open(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            region=settings.s3_region or None,
            endpoint_url=settings.s3_endpoint or None,
        )
        return s3
    return await SqliteStateStore.open(settings.sqlite_db_path)
