"""The service's composition root: the one place that reads the settings,
chooses the adapters and builds the use cases over them.

Two steps, each an async context manager that closes what it opened:

- ``open_adapters(settings)``: every adapter for the configured storage, in
  ``Adapters``. The credentials live wherever the states do (the same SQLite
  file, the same bucket and prefix on one S3 client, or memory), so they
  survive restarts and every replica sharing the storage shares them.
- ``open_services(settings, adapters)``: the use cases and the few adapters
  routes speak to, in ``Services``, the typed object the app's lifespan
  yields and handlers reach with ``taco_http.context.services_of``.

A new service is one field on ``Services`` and one line in
``open_services`` (as the audit trail and the metrics are); a new storage
technology is one branch in ``open_adapters``. Nothing else in
``taco_http`` asks which storage is configured.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

from attrs import field, frozen

from taco_adapters.clock import SystemClock
from taco_adapters.identity import (
    InvalidKeyFile,
    JoseAccessTokens,
    OidcIdTokenVerifier,
    provider_settings,
    signing_key_from_pem,
)
from taco_adapters.memory import MemoryAuditLog, MemoryAuthStore, MemoryStateStore
from taco_adapters.sqlite import SqliteAuditLog, SqliteAuthStore, SqliteStateStore
from taco_core.audit_service import AuditService
from taco_core.auth import SigningKey
from taco_core.auth_service import AuthPolicy, AuthService
from taco_core.errors import TacoError
from taco_core.event_bus import EventBus
from taco_core.events import Event
from taco_core.ports import AuditLog, AuthStore, Clock, EventSink, StateStore
from taco_core.service import StateService
from taco_http.metrics import Metrics, MetricsSink, metered
from taco_http.settings import Settings, SettingsError

log = logging.getLogger("opentaco")


@frozen
class Adapters:
    """Every adapter the service runs on (the audit trail in memory unless
    the storage keeps one)."""

    states: StateStore
    auth: AuthStore
    clock: Clock
    audit: AuditLog = field(factory=MemoryAuditLog)


@frozen
class Services:
    """What the routes work with: the use cases, the settings they were built
    from, and the adapters the app itself maintains (key rotation) or shows
    (the OIDC provider's endpoints, for login clients)."""

    settings: Settings
    states: StateService
    auth: AuthService
    access_tokens: JoseAccessTokens
    oidc: OidcIdTokenVerifier | None
    # What the use cases publish (``taco_core.events``); listeners (the audit
    # log, the dependency graph, metrics) subscribe here in ``open_services``.
    events: EventBus
    audit: AuditService
    metrics: Metrics


@contextlib.asynccontextmanager
async def open_adapters(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[Adapters]:
    """Open the adapters ``settings.storage`` names; ``StorageUnavailable``
    when the storage cannot be reached, so the service refuses to start
    rather than serve from somewhere else.

    With S3 and authentication disabled no credential is ever checked, so
    there is nothing worth keeping: memory holds the (unused) credentials, and
    serving a bucket then writes nothing of ours to it.
    """
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        states: StateStore
        auth: AuthStore
        audit: AuditLog
        if settings.storage == "memory":
            log.warning("storage: memory; every state is lost when the process stops")
            states, auth, audit = MemoryStateStore(), MemoryAuthStore(), MemoryAuditLog()
        elif settings.storage == "s3":
            # Imported here: aiobotocore takes a while to import, and only S3 needs it.
            from taco_adapters.s3 import S3AuditLog, S3AuthStore, S3Bucket, S3StateStore

            # One client, made in the event loop that serves requests, and one
            # bucket check for both stores.
            bucket = await S3Bucket.open(
                settings.s3_bucket,
                region=settings.s3_region or None,
                endpoint_url=settings.s3_endpoint or None,
            )
            stack.push_async_callback(bucket.aclose)
            log.info("storage: S3 bucket %s prefix %r", settings.s3_bucket, settings.s3_prefix)
            states = S3StateStore(bucket, prefix=settings.s3_prefix)
            auth = (
                MemoryAuthStore()
                if settings.auth_disable
                else S3AuthStore(bucket, prefix=settings.s3_prefix)
            )
            audit = S3AuditLog(bucket, prefix=settings.s3_prefix)
        else:
            states = await SqliteStateStore.open(settings.sqlite_db_path)
            stack.push_async_callback(states.aclose)
            auth = await SqliteAuthStore.open(settings.sqlite_db_path)
            stack.push_async_callback(auth.aclose)
            audit = await SqliteAuditLog.open(settings.sqlite_db_path)
            stack.push_async_callback(audit.aclose)
            log.info("storage: SQLite at %s", settings.sqlite_db_path.resolve())
        yield Adapters(states=states, auth=auth, clock=clock, audit=audit)


@contextlib.asynccontextmanager
async def open_services(settings: Settings, adapters: Adapters) -> AsyncIterator[Services]:
    """Build the use cases over ``adapters``: the state service, our access
    tokens (creating the first signing key if there is none), the OIDC
    verifier when a provider is configured, the auth service over them, the
    audit trail (appending in groups until the services close) and the
    metrics. ``SettingsError`` names a signing key file that cannot be used.

    Every storage port is ``metered`` (its calls timed, its failures
    counted); the audit trail and the metrics listen to the event bus."""
    clock = adapters.clock
    metrics = Metrics()
    storage = settings.storage
    states_store = metered(adapters.states, storage, metrics)
    auth_store = metered(adapters.auth, storage, metrics)
    audit_log = metered(adapters.audit, storage, metrics)
    policy = AuthPolicy(
        access_ttl=timedelta(seconds=settings.tokens_access_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.tokens_refresh_ttl_seconds),
    )
    access_tokens = await _open_access_tokens(settings, adapters.clock, auth_store, policy)
    oidc = None
    if settings.auth_issuer:
        oidc = OidcIdTokenVerifier(
            provider_settings(
                settings.auth_issuer,
                settings.auth_client_id,
                auth_url=settings.auth_auth_url,
                token_url=settings.auth_token_url,
                jwks_url=settings.auth_jwks_url,
            )
        )
    events = EventBus(on_error=_listener_failed)
    states = StateService(states_store, clock, settings.policy(), events=events)

    def audit_trouble(message: str) -> None:
        metrics.audit_failures.inc()
        log.error("%s", message)

    audit = AuditService(
        audit_log, clock, access=states.access, events=events, report=audit_trouble
    )
    events.subscribe(audit)
    events.subscribe(MetricsSink(metrics, storage))
    async with contextlib.AsyncExitStack() as stack:
        if oidc is not None:
            stack.push_async_callback(oidc.aclose)
        await stack.enter_async_context(audit.batching())
        yield Services(
            settings=settings,
            states=states,
            auth=AuthService(auth_store, access_tokens, clock, id_tokens=oidc, policy=policy),
            access_tokens=access_tokens,
            oidc=oidc,
            events=events,
            audit=audit,
            metrics=metrics,
        )


def _listener_failed(sink: EventSink, event: Event, exc: Exception) -> None:
    """A listener could not take an event: the use case it reports on has
    already happened, so the failure is logged, never shown to the caller."""
    log.error(
        "%s failed to take %s: %s",
        type(sink).__name__,
        type(event).__name__,
        exc,
        exc_info=not isinstance(exc, TacoError),
    )


async def _open_access_tokens(
    settings: Settings, clock: Clock, keys: AuthStore, policy: AuthPolicy
) -> JoseAccessTokens:
    issuer = settings.token_issuer()
    now = clock.now()
    configured = configured_key(settings, now)
    if configured is not None:
        return JoseAccessTokens(issuer=issuer, configured=configured)
    rotation = settings.tokens_key_rotation_seconds
    return await JoseAccessTokens.open(
        keys,
        issuer=issuer,
        now=now,
        rotate_after=timedelta(seconds=rotation) if rotation > 0 else None,
        keep_for=policy.access_ttl,
    )


def configured_key(settings: Settings, now: datetime) -> SigningKey | None:
    """The operator's signing key, if one is configured; ``SettingsError``
    naming the variable when the file cannot be read or is not a P-256 key."""
    path = settings.tokens_private_key_pem_path
    if path is None:
        return None
    try:
        return signing_key_from_pem(path.read_bytes(), kid=settings.tokens_kid, now=now)
    except (OSError, InvalidKeyFile) as exc:
        raise SettingsError(f"OPENTACO_TOKENS_PRIVATE_KEY_PEM_PATH={path}: {exc}") from None


def admin_token_file(settings: Settings) -> Path | None:
    """Where the bootstrap admin token is written: as configured, else
    beside the SQLite database; ``None`` (print only) for other storages."""
    if settings.admin_token_path is not None:
        return settings.admin_token_path
    if settings.storage == "sqlite":
        return settings.sqlite_db_path.parent / "admin-token"
    return None


def storage_info(settings: Settings) -> dict[str, str]:
    """Which storage this server uses, as ``/v1/info`` shows it."""
    info = {"type": settings.storage}
    if settings.storage == "s3":
        info.update(bucket=settings.s3_bucket, prefix=settings.s3_prefix)
    return info
