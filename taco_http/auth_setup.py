"""Building the authentication side of the service (part of the composition root).

Chooses the token store that matches the state storage (the same SQLite
file, the same S3 bucket and prefix, or memory), the signing keys (kept in
that store, or the operator's PEM file), the OIDC verifier when a provider is
configured, and on a fresh install without a provider, the bootstrap admin
token.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from attrs import frozen

from taco_adapters.identity import OidcIdTokenVerifier, provider_settings
from taco_adapters.identity.access_tokens import (
    InvalidKeyFile,
    JoseAccessTokens,
    signing_key_from_pem,
)
from taco_adapters.memory import MemoryAuthStore
from taco_adapters.sqlite import SqliteAuthStore
from taco_core.auth import NewApiToken, SigningKey
from taco_core.auth_service import AuthPolicy, AuthService
from taco_core.ports import Clock, SigningKeyStore, TokenStore
from taco_http.settings import Settings, SettingsError


class AuthStore(TokenStore, SigningKeyStore, Protocol):
    """One storage adapter holding both auth ports."""

    async def aclose(self) -> None: ...


@frozen
class AuthParts:
    """What the app keeps: the use cases, and the adapters it maintains and closes."""

    service: AuthService
    codec: JoseAccessTokens
    oidc: OidcIdTokenVerifier | None
    store: AuthStore


async def open_auth_store(settings: Settings) -> AuthStore:
    """The auth store beside the state storage: tokens and signing keys live
    wherever the states do, so they survive restarts and every replica sharing
    the storage shares them too (``StorageUnavailable`` if it is unreachable).

    With S3 and authentication disabled no credential is ever checked, so
    there is nothing worth keeping: memory is used, and serving a bucket then
    writes nothing to it.
    """
    if settings.storage == "sqlite":
        return await SqliteAuthStore.open(settings.sqlite_db_path)
    if settings.storage == "s3" and not settings.auth_disable:
        from taco_adapters.s3 import S3AuthStore

        # A client of its own: the state store keeps its client private. Like
        # that one, it is made in the event loop that serves requests.
        s3: AuthStore = await S3AuthStore.open(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            region=settings.s3_region or None,
            endpoint_url=settings.s3_endpoint or None,
        )
        return s3
    return MemoryAuthStore()


async def open_auth(settings: Settings, clock: Clock, store: AuthStore | None = None) -> AuthParts:
    """Open every auth adapter (``StorageUnavailable``, ``SettingsError``)."""
    store = store if store is not None else await open_auth_store(settings)
    policy = AuthPolicy(
        access_ttl=timedelta(seconds=settings.tokens_access_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.tokens_refresh_ttl_seconds),
    )
    codec = await _open_codec(settings, clock, store, policy)
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
    service = AuthService(store, codec, clock, id_tokens=oidc, policy=policy)
    return AuthParts(service=service, codec=codec, oidc=oidc, store=store)


async def _open_codec(
    settings: Settings, clock: Clock, store: SigningKeyStore, policy: AuthPolicy
) -> JoseAccessTokens:
    issuer = settings.token_issuer()
    configured = configured_key(settings, clock.now())
    if configured is not None:
        return JoseAccessTokens(issuer=issuer, configured=configured)
    rotation = settings.tokens_key_rotation_seconds
    return await JoseAccessTokens.open(
        store,
        issuer=issuer,
        now=clock.now(),
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


async def close_auth(parts: AuthParts) -> None:
    if parts.oidc is not None:
        await parts.oidc.aclose()
    await parts.store.aclose()


async def bootstrap(parts: AuthParts, settings: Settings) -> None:
    """Make a fresh install usable without leaving it open: with auth on and
    no OIDC provider, the first start creates an admin API token, prints it
    once and writes it to a file only its owner can read."""
    if settings.auth_disable or settings.auth_issuer:
        return
    created = await parts.service.bootstrap_admin_token()
    if created is not None:
        announce_admin_token(created, settings.admin_token_file())


def announce_admin_token(created: NewApiToken, path: Path | None) -> None:
    """Print the bootstrap token to stderr (not to the log, which may be
    shipped elsewhere) and write it to ``path`` with mode 0600."""
    where = ""
    if path is not None:
        write_private_file(path, created.secret + "\n")
        where = f"\n  It was also written to {path.resolve()} (mode 0600)."
    sys.stderr.write(
        "\n"
        "  OpenTaco created an admin API token on this first start. It is shown ONCE:\n"
        f"\n      {created.secret}\n"
        f"{where}\n"
        "  Use it as a Bearer token, as `taco login --token`, or as Terraform's backend\n"
        '  "http" password (with any username). Create more with POST /v1/auth/tokens.\n\n'
    )
    sys.stderr.flush()


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only from
    the first byte on (the file is created 0600, never widened later)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as sink:
            sink.write(text)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
