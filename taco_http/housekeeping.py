"""Housekeeping every replica runs now and every few minutes: purge units
whose delete grace period is over, refresh tokens that expired and multipart
uploads to the S3 endpoint left unfinished, rotate the token signing key when
it is due and drop keys nothing valid was signed with, and forget audit
records older than ``OPENTACO_AUDIT_RETENTION`` (unless 0).

Idempotent, so every replica may run it; a failure is logged and retried at
the next tick rather than taking the service down.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio

from taco_core.errors import TacoError
from taco_http.wiring import Services

log = logging.getLogger("opentaco")

INTERVAL_SECONDS = 600.0


async def maintain_forever(services: Services) -> None:
    while True:
        await anyio.sleep(INTERVAL_SECONDS)
        await maintain_once(services)


async def maintain_once(services: Services) -> None:
    retention = services.settings.audit_retention_seconds
    forgotten = 0
    try:
        purged = await services.states.purge_expired()
        await services.auth.purge_expired()
        now = services.auth.clock.now()
        await services.access_tokens.maintain(now)
        expiry = timedelta(seconds=services.settings.s3_upload_expiry_seconds)
        abandoned = await services.staging.purge_uploads(now - expiry)
        if retention > 0:
            forgotten = await services.audit.purge_expired(timedelta(seconds=retention))
    except TacoError as exc:
        log.warning("housekeeping failed: %s", exc.message)
        return
    for unit_id in purged:
        log.info("purged unit %s (deleted longer ago than the grace period)", unit_id)
    if forgotten:
        log.info("forgot %d audit record(s) older than the audit retention", forgotten)
    if abandoned:
        log.info("dropped %d unfinished S3 multipart uploads", abandoned)
