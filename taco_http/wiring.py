"""The service's composition root: the one place that reads the settings,
chooses the adapters and builds the use cases over them.

Two steps, each an async context manager that closes what it opened:

- ``open_adapters(settings)``: every adapter for the configured storage, in
  ``Adapters``. The credentials, the RBAC policy, the audit trail and the
  organization directory live wherever the states do (the same SQLite file,
  the same bucket and prefix on one S3 client, or memory), so they survive
  restarts and every replica sharing the storage shares them.
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
import hashlib
import hmac
import logging
import secrets
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
from taco_adapters.memory import (
    MemoryAuditLog,
    MemoryAuthStore,
    MemoryDirectoryStore,
    MemoryRbacStore,
    MemoryStateStore,
    MemoryUploadStaging,
)
from taco_adapters.sqlite import (
    SqliteAuditLog,
    SqliteAuthStore,
    SqliteDirectoryStore,
    SqliteRbacStore,
    SqliteStateStore,
    SqliteUploadStaging,
    companion_files,
)
from taco_adapters.webhooks import WebhookSender
from taco_core.audit_service import AuditService
from taco_core.auth import BOOTSTRAP_SUBJECT, SigningKey
from taco_core.auth_service import AuthPolicy, AuthService
from taco_core.directory_service import DirectoryService
from taco_core.errors import TacoError
from taco_core.event_bus import EventBus
from taco_core.events import Event
from taco_core.graph_service import GraphService
from taco_core.org_roles import OrganizationAdmins
from taco_core.ports import (
    AuditLog,
    AuthStore,
    Clock,
    DirectoryStore,
    EventSink,
    RbacStore,
    StateStore,
    UploadStaging,
)
from taco_core.rbac import GLOBAL_RESOURCE, Action, Authorizer, RbacPolicy
from taco_core.rbac_admin import RbacAdmin
from taco_core.rbac_service import RbacService
from taco_core.s3_credentials import S3CredentialService
from taco_core.service import StateService
from taco_http.metrics import Metrics, MetricsSink, metered
from taco_http.private_files import exposed
from taco_http.settings import Settings, SettingsError

log = logging.getLogger("opentaco")


@frozen
class Adapters:
    """Every adapter the service runs on. ``audit`` (the audit trail) and
    ``directory`` (organizations and users) default to memory only for
    callers that build this by hand (tests); ``open_adapters`` keeps them
    beside the states. ``staging`` holds the S3 endpoint's multipart uploads
    in progress, beside the states."""

    states: StateStore
    auth: AuthStore
    rbac: RbacStore
    clock: Clock
    audit: AuditLog = field(factory=MemoryAuditLog)
    directory: DirectoryStore = field(factory=MemoryDirectoryStore)
    staging: UploadStaging = field(factory=MemoryUploadStaging)


@frozen
class Keys:
    """The service's own HMAC keys, one per purpose, the same on every
    replica: derived from ``OPENTACO_SECRET_KEY`` when it is set, else
    random keys created once in the storage (``SecretStore``)."""

    signed_urls: bytes
    terraform_login: bytes


@frozen
class Services:
    """What the routes work with: the use cases, the settings they were built
    from, and the adapters the app itself maintains (key rotation) or shows
    (the OIDC provider's endpoints, for login clients)."""

    settings: Settings
    states: StateService
    auth: AuthService
    # Authorization: the decisions every use case asks for (``rbac``) and
    # the management of roles and permissions (``rbac_admin``).
    rbac: RbacService
    rbac_admin: RbacAdmin
    access_tokens: JoseAccessTokens
    oidc: OidcIdTokenVerifier | None
    # What the use cases publish (``taco_core.events``); listeners (the audit
    # log, the dependency graph, metrics) subscribe here in ``open_services``.
    events: EventBus
    audit: AuditService
    metrics: Metrics
    # Organizations and their users (the internal API syncs them in).
    directory: DirectoryService
    keys: Keys
    # The S3-compatible endpoint's credentials and multipart staging.
    s3_credentials: S3CredentialService
    staging: UploadStaging
    # The dependency graph: kept up to date by its background task (the
    # app's lifespan runs it), and its status views.
    graph: GraphService
    # Signed notifications of status changes, when webhook URLs are configured.
    webhooks: WebhookSender | None = None


@contextlib.asynccontextmanager
async def open_adapters(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[Adapters]:
    """Open the adapters ``settings.storage`` names; ``StorageUnavailable``
    when the storage cannot be reached, so the service refuses to start
    rather than serve from somewhere else.

    With S3 and authentication disabled no credential is ever checked and
    nothing is authorized, so there is nothing worth keeping: memory holds the
    (unused) credentials and policy, and the bucket gets no credentials of
    ours. The audit trail is kept in the bucket all the same: without a
    subject, its records still say what changed, when, from which address
    and in which request.
    """
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        states: StateStore
        auth: AuthStore
        rbac: RbacStore
        audit: AuditLog
        directory: DirectoryStore
        staging: UploadStaging
        if settings.storage == "memory":
            log.warning("storage: memory; every state is lost when the process stops")
            states, auth, rbac = MemoryStateStore(), MemoryAuthStore(), MemoryRbacStore()
            audit = MemoryAuditLog()
            directory = MemoryDirectoryStore()
            staging = MemoryUploadStaging()
        elif settings.storage == "s3":
            # Imported here: aiobotocore takes a while to import, and only S3 needs it.
            from taco_adapters.s3 import (
                S3AuditLog,
                S3AuthStore,
                S3Bucket,
                S3DirectoryStore,
                S3RbacStore,
                S3StateStore,
                S3UploadStaging,
            )

            # One client, made in the event loop that serves requests, and one
            # bucket check for both stores.
            bucket = await S3Bucket.open(
                settings.s3_bucket,
                region=settings.s3_region or None,
                endpoint_url=settings.s3_endpoint or None,
                io_timeout=settings.s3_timeout_seconds,
            )
            stack.push_async_callback(bucket.aclose)
            log.info("storage: S3 bucket %s prefix %r", settings.s3_bucket, settings.s3_prefix)
            states = S3StateStore(bucket, prefix=settings.s3_prefix)
            directory = S3DirectoryStore(bucket, prefix=settings.s3_prefix)
            staging = S3UploadStaging(bucket, prefix=settings.s3_prefix)
            if settings.auth_disable:
                auth, rbac = MemoryAuthStore(), MemoryRbacStore()
            else:
                auth = S3AuthStore(bucket, prefix=settings.s3_prefix)
                rbac = S3RbacStore(bucket, prefix=settings.s3_prefix)
            audit = S3AuditLog(bucket, prefix=settings.s3_prefix)
        else:
            states = await SqliteStateStore.open(settings.sqlite_db_path)
            stack.push_async_callback(states.aclose)
            auth = await SqliteAuthStore.open(settings.sqlite_db_path)
            stack.push_async_callback(auth.aclose)
            sqlite_staging = await SqliteUploadStaging.open(settings.sqlite_db_path)
            stack.push_async_callback(sqlite_staging.aclose)
            staging = sqlite_staging
            sqlite_rbac = await SqliteRbacStore.open(settings.sqlite_db_path)
            stack.push_async_callback(sqlite_rbac.aclose)
            rbac = sqlite_rbac
            sqlite_audit = await SqliteAuditLog.open(settings.sqlite_db_path)
            stack.push_async_callback(sqlite_audit.aclose)
            audit = sqlite_audit
            sqlite_directory = await SqliteDirectoryStore.open(settings.sqlite_db_path)
            stack.push_async_callback(sqlite_directory.aclose)
            directory = sqlite_directory
            log.info("storage: SQLite at %s", settings.sqlite_db_path.resolve())
            db = settings.sqlite_db_path.resolve()
            token_file = admin_token_file(settings)
            beside = [token_file.resolve()] if token_file else []
            for problem in exposed(db.parent, [*companion_files(db), *beside]):
                log.warning(problem)
        yield Adapters(
            states=states,
            auth=auth,
            rbac=rbac,
            clock=clock,
            audit=audit,
            directory=directory,
            staging=staging,
        )


@contextlib.asynccontextmanager
async def open_services(settings: Settings, adapters: Adapters) -> AsyncIterator[Services]:
    """Build the use cases over ``adapters``: authorization (creating the
    fresh install's RBAC policy, with the bootstrap admin subject as admin,
    if there is none), the state service asking it, our access tokens
    (creating the first signing key if there is none), the OIDC verifier when
    a provider is configured, the auth service over them, the audit trail
    (appending in groups until the services close), the metrics, the
    organization directory, the S3 endpoint's credentials, the dependency
    graph and its webhooks. ``SettingsError`` names a signing key file that
    cannot be used.

    Every storage port is ``metered`` (its calls timed, its failures
    counted); the audit trail, the metrics, the graph, the webhooks and (with
    RBAC) the organization admins listen to the event bus."""
    clock = adapters.clock
    metrics = Metrics()
    storage = settings.storage
    states_store = metered(adapters.states, storage, metrics)
    auth_store = metered(adapters.auth, storage, metrics)
    # RBAC policy and directory both ``load`` and ``save``: named apart.
    rbac_store = metered(adapters.rbac, storage, metrics, port="rbac")
    audit_log = metered(adapters.audit, storage, metrics)
    directory_store = metered(adapters.directory, storage, metrics, port="directory")
    staging = metered(adapters.staging, storage, metrics)
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
    keys = await _open_keys(settings, auth_store)
    rbac = await _open_rbac(settings, adapters.clock, rbac_store)
    s3_credentials = S3CredentialService(
        access_tokens,
        auth_store,
        auth_store,
        clock,
        ttl=timedelta(seconds=settings.s3_creds_ttl_seconds),
        allow_anonymous=settings.auth_disable,
    )
    states = StateService(states_store, clock, settings.policy(), access=rbac, events=events)

    def audit_trouble(message: str) -> None:
        metrics.audit_failures.inc()
        log.error("%s", message)

    audit = AuditService(audit_log, clock, access=rbac, events=events, report=audit_trouble)
    events.subscribe(audit)
    events.subscribe(MetricsSink(metrics, storage))
    if rbac.enabled:
        # Whoever creates an organization administers its units (after the
        # audit trail: the organization is recorded before the grant).
        events.subscribe(OrganizationAdmins(rbac, clock, events))
    graph = GraphService(
        states,
        reconcile_interval=settings.graph_reconcile_seconds or None,
        on_error=_graph_failed,
    )
    events.subscribe(graph)
    webhooks = None
    if settings.webhook_urls:
        webhooks = WebhookSender(settings.webhook_urls, settings.webhook_secret)
        events.subscribe(webhooks)
    async with contextlib.AsyncExitStack() as stack:
        if oidc is not None:
            stack.push_async_callback(oidc.aclose)
        await stack.enter_async_context(audit.batching())
        yield Services(
            settings=settings,
            states=states,
            auth=AuthService(
                auth_store,
                access_tokens,
                clock,
                id_tokens=oidc,
                policy=policy,
                rbac=rbac,
                events=events,
            ),
            rbac=rbac,
            rbac_admin=RbacAdmin(rbac, events=events),
            access_tokens=access_tokens,
            oidc=oidc,
            events=events,
            audit=audit,
            metrics=metrics,
            directory=DirectoryService(directory_store, clock, events=events),
            keys=keys,
            s3_credentials=s3_credentials,
            staging=staging,
            graph=graph,
            webhooks=webhooks,
        )


async def _open_keys(settings: Settings, store: AuthStore) -> Keys:
    async def key(purpose: str) -> bytes:
        if settings.secret_key:
            # One operator secret, a distinct key per purpose: a value signed
            # for one use is never valid for another.
            return hmac.new(settings.secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
        return await store.secret(purpose, secrets.token_bytes(32))

    return Keys(signed_urls=await key("signed-urls"), terraform_login=await key("terraform-login"))


async def _open_rbac(settings: Settings, clock: Clock, store: RbacStore) -> RbacService:
    """Authorization as configured: off with authentication (everything is
    allowed, as ``taco_http.main`` logs loudly), else deny-by-default over
    the stored policy, created on a fresh install."""
    rbac = RbacService(
        store,
        clock,
        group_roles=settings.group_roles(),
        subject_roles=settings.subject_roles(),
        enabled=not settings.auth_disable,
        max_age=timedelta(seconds=settings.rbac_max_age()),
    )
    if not rbac.enabled:
        return rbac
    policy = await rbac.ensure_initialised([BOOTSTRAP_SUBJECT])
    if settings.auth_issuer and not _someone_can_manage(settings, policy):
        log.warning(
            "authorization: nobody who can log in may manage roles: with OIDC there is no "
            "bootstrap admin token, no subject but %r is assigned a role allowed rbac.manage, "
            "and neither OPENTACO_RBAC_GROUP_ROLES nor OPENTACO_RBAC_SUBJECT_ROLES gives one. "
            "Map your admins, e.g. OPENTACO_RBAC_GROUP_ROLES=platform=admin or "
            "OPENTACO_RBAC_SUBJECT_ROLES=alice@example.com=admin",
            BOOTSTRAP_SUBJECT,
        )
    return rbac


def _someone_can_manage(settings: Settings, policy: RbacPolicy) -> bool:
    """Whether a subject other than the bootstrap one (which OIDC users
    cannot log in as) may manage RBAC, by assignment or configuration."""
    authorizer = Authorizer(policy)
    holders = [
        *(roles for subject, roles in policy.assignments.items() if subject != BOOTSTRAP_SUBJECT),
        *settings.group_roles().values(),
        *settings.subject_roles().values(),
    ]
    return any(authorizer.allows(roles, Action.RBAC_MANAGE, GLOBAL_RESOURCE) for roles in holders)


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


def _graph_failed(message: str, exc: Exception) -> None:
    """The graph's background pass failed; it keeps its queue and retries."""
    detail = exc.message if isinstance(exc, TacoError) else str(exc)
    log.warning("%s: %s", message, detail, exc_info=not isinstance(exc, TacoError))


async def _open_access_tokens(
    settings: Settings, clock: Clock, keys: AuthStore, policy: AuthPolicy
) -> JoseAccessTokens:
    issuer = settings.token_issuer()
    now = clock.now()
    configured = configured_key(settings, now)
    if configured is not None:
        return JoseAccessTokens(issuer=issuer, configured=configured)
    rotation = settings.tokens_key_rotation_seconds
    # A retired key verifies until the last token it signed has expired:
    # access tokens, and the session tokens of S3 credentials.
    longest = max(policy.access_ttl, timedelta(seconds=settings.s3_creds_ttl_seconds))
    return await JoseAccessTokens.open(
        keys,
        issuer=issuer,
        now=now,
        rotate_after=timedelta(seconds=rotation) if rotation > 0 else None,
        keep_for=longest,
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
