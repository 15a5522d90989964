"""``taco login``, ``logout``, ``whoami``, ``creds`` and ``taco token ...``.

Unlike the unit commands these need a server (there is nobody to log in to
in embedded mode) and the server's auth API, which is not part of the
``StateControl`` port, so they get their own context: the credentials file
and a way to open a ``RemoteAuth`` with chosen credentials (a token
being checked before it is saved must be sent instead of the saved one).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import IO

from attrs import frozen

from taco_adapters.remote import (
    TOKEN_ENV,
    Credentials,
    CredentialsFile,
    Profile,
    RemoteAuth,
    StaticToken,
)
from taco_adapters.wire import AuthConfig, api_token_json, principal_json, s3_credentials_json
from taco_cli.errors import AuthenticationFailed, CliError, UsageError
from taco_cli.login import (
    IdentityProvider,
    IdToken,
    LoginOptions,
    announcement,
    browser_login,
    can_open_browser,
    partial_plan,
)
from taco_cli.output import Output, table, when
from taco_core.auth import ApiToken, IssuedTokens, Principal, PrincipalKind
from taco_core.errors import NotFound, TacoError, Unauthenticated


@frozen
class AuthContext:
    """What the auth commands need, wired by ``taco_cli.main``.

    ``credentials`` is what ordinary commands send (``OPENTACO_TOKEN``, else
    the saved profile, else nothing) and ``source`` says which, for people.
    """

    server: str
    out: Output
    store: CredentialsFile
    credentials: Credentials | None
    source: str
    connect: Callable[[Credentials | None], RemoteAuth]
    stdin: IO[bytes]
    environ: Mapping[str, str]
    timeout: float


AuthHandler = Callable[[AuthContext, argparse.Namespace], Awaitable[None]]


def _secret_arg(ctx: AuthContext, value: str, what: str) -> str:
    """A secret given as an option, or read from stdin for '-'."""
    if value == "-":
        value = ctx.stdin.read().decode("utf-8", "replace")
    value = value.strip()
    if not value:
        raise UsageError(f"no {what} given (standard input was empty)")
    return value


def _who(principal: Principal) -> str:
    return principal.subject + (f" ({principal.email})" if principal.email else "")


# -- login -------------------------------------------------------------------------


async def login(ctx: AuthContext, args: argparse.Namespace) -> None:
    browser_options = (
        args.issuer,
        args.client_id,
        args.auth_url,
        args.token_url,
        args.scopes,
        args.callback_port,
    )
    if args.token is not None:
        if args.id_token is not None or any(browser_options) or args.force_login:
            raise UsageError(
                "--token saves an API token: it cannot be combined with the login options"
            )
        token = _secret_arg(ctx, args.token, "token")
        principal = await _checked(ctx, token)
        if principal.kind is PrincipalKind.ANONYMOUS:
            # The server checks no credential, so this one could not be checked
            # either; saved, it would be sent wherever this URL later points.
            raise CliError(
                f"authentication is disabled on {ctx.server}: there is nothing to log in to, "
                "and the token was not saved (every command works without it)"
            )
        await _save(ctx, Profile(token))
        _report_login(ctx, principal, "api_token")
        return
    async with ctx.connect(None) as api:
        if args.id_token is not None:
            id_token = IdToken(_secret_arg(ctx, args.id_token, "ID token"), "")
            issued = await _exchange(ctx, api, id_token)
            await _save(ctx, Profile(issued.access_token, issued.refresh_token))
        else:
            config = await _auth_config(api)
            if config is not None and not config.auth_enabled:
                ctx.out.result(
                    {"server": ctx.server, "auth_enabled": False, "saved": False},
                    [
                        f"Authentication is disabled on {ctx.server}: "
                        "every command works without logging in."
                    ],
                )
                return
            issued = await _browser_login(ctx, api, args, config)
    _report_login(ctx, await _checked(ctx, issued.access_token), "oidc")


async def _browser_login(
    ctx: AuthContext, api: RemoteAuth, args: argparse.Namespace, config: AuthConfig | None
) -> IssuedTokens:
    """The PKCE flow; the tokens are saved before the browser hears of success."""
    options = LoginOptions(
        issuer=args.issuer,
        client_id=args.client_id,
        auth_url=args.auth_url,
        token_url=args.token_url,
        scopes=args.scopes,
        callback_port=args.callback_port,
        force_login=args.force_login,
    )
    provider = IdentityProvider(ctx.timeout)
    plan = await provider.complete_plan(partial_plan(options, config, ctx.environ, ctx.server))
    browser = not args.no_browser and can_open_browser(ctx.environ)
    issued: list[IssuedTokens] = []

    async def complete(id_token: IdToken) -> None:
        tokens = await _exchange(ctx, api, id_token)
        await _save(ctx, Profile(tokens.access_token, tokens.refresh_token))
        issued.append(tokens)

    await browser_login(
        plan,
        complete=complete,
        announce=lambda url: ctx.out.notice(announcement(plan, ctx.server, url, browser)),
        provider=provider,
        browser=browser,
        patience=args.login_timeout,
    )
    return issued[0]


async def _auth_config(api: RemoteAuth) -> AuthConfig | None:
    """The server's login configuration; ``None`` from a server too old to
    publish one (the options must then say everything)."""
    try:
        return await api.auth_config()
    except NotFound:
        return None


async def _exchange(ctx: AuthContext, api: RemoteAuth, id_token: IdToken) -> IssuedTokens:
    try:
        return await api.exchange_id_token(id_token.id_token, nonce=id_token.nonce or None)
    except Unauthenticated as exc:
        raise AuthenticationFailed(
            f"the server at {ctx.server} refused the ID token: {exc.message}",
            (
                "Nothing was saved. The server and taco login must use the same OIDC issuer "
                "and client ID.",
            ),
        ) from None


async def _save(ctx: AuthContext, profile: Profile) -> None:
    async with ctx.store.editing() as profiles:
        profiles.set(ctx.server, profile)


async def _checked(ctx: AuthContext, token: str) -> Principal:
    """Who the server takes ``token`` for; ``AuthenticationFailed`` if it refuses it."""
    async with ctx.connect(StaticToken(token)) as api:
        try:
            return await api.me()
        except Unauthenticated as exc:
            raise AuthenticationFailed(
                f"the server at {ctx.server} refused the token: {exc.message}",
                ("Nothing was saved.",),
            ) from None


def _report_login(ctx: AuthContext, principal: Principal, method: str) -> None:
    lines = ["Login successful; tokens saved."]
    if principal.kind is not PrincipalKind.ANONYMOUS:
        lines.append(f"Logged in to {ctx.server} as {_who(principal)}.")
    if ctx.environ.get(TOKEN_ENV):
        lines.append(f"Note: {TOKEN_ENV} is set, and commands send it instead of this login.")
    ctx.out.result(
        {
            "server": ctx.server,
            "method": method,
            "credentials_file": str(ctx.store.path),
            **principal_json(principal),
        },
        lines,
    )


# -- logout, whoami ----------------------------------------------------------------


async def logout(ctx: AuthContext, args: argparse.Namespace) -> None:
    """End the session on the server, then forget the tokens here. The local
    part always happens: a user who wants out must get out even when the
    server cannot be reached (the session then ends when its refresh token
    expires)."""
    saved = ctx.store.profile(ctx.server)
    notes: list[str] = []
    if saved is not None and saved.refresh_token:
        try:
            async with ctx.connect(None) as api:
                await api.logout(saved.refresh_token)
        except TacoError as exc:
            ctx.out.warn(
                f"could not end the session on the server ({exc.message}); the tokens are "
                "removed here anyway"
            )
    elif saved is not None:
        notes.append(
            "The API token itself stays valid: revoke it with taco token revoke ID "
            "(taco whoami shows its ID)."
        )
    if saved is not None:
        async with ctx.store.editing() as profiles:
            profiles.remove(ctx.server)
    if ctx.environ.get(TOKEN_ENV):
        notes.append(f"{TOKEN_ENV} is still set: commands keep sending it.")
    line = (
        f"Logged out from {ctx.server} (tokens removed)"
        if saved is not None
        else f"Not logged in to {ctx.server} (no saved tokens)"
    )
    ctx.out.result({"server": ctx.server, "logged_out": saved is not None}, [line, *notes])


_SOURCES = {
    TOKEN_ENV: f"the {TOKEN_ENV} environment variable",
    "saved": "saved credentials",
    "": "none (anonymous)",
}


async def whoami(ctx: AuthContext, args: argparse.Namespace) -> None:
    async with ctx.connect(ctx.credentials) as api:
        principal = await api.me()
    source = _SOURCES.get(ctx.source, ctx.source)
    if ctx.source == "saved":
        source += f" ({ctx.store.path})"
    kind = str(principal.kind) + (f" (ID {principal.token_id})" if principal.token_id else "")
    ctx.out.result(
        {"server": ctx.server, **principal_json(principal), "credential": ctx.source or None},
        [
            f"Server:     {ctx.server}",
            f"Subject:    {principal.subject}",
            f"Email:      {principal.email or '-'}",
            f"Groups:     {', '.join(principal.groups) or '-'}",
            f"Kind:       {kind}",
            f"Credential: {source}",
        ],
    )


# -- S3 credentials ----------------------------------------------------------------


async def creds(ctx: AuthContext, args: argparse.Namespace) -> None:
    """With ``--json``, exactly AWS's ``credential_process`` document on
    stdout (the SDK reads nothing else there); otherwise a summary."""
    async with ctx.connect(ctx.credentials) as api:
        issued = await api.issue_s3_credentials()
    ctx.out.result(
        s3_credentials_json(issued),
        [
            f"S3 credentials for {ctx.server}/s3, valid until {when(issued.expires)} UTC:",
            "",
            f"  AccessKeyId:     {issued.access_key_id}",
            f"  SecretAccessKey: {issued.secret_access_key}",
            f"  SessionToken:    {issued.session_token}",
            "",
            "In an AWS profile (~/.aws/config), let the SDK fetch fresh ones itself:",
            f"  credential_process = taco creds --json --server {ctx.server}",
        ],
    )


# -- API tokens --------------------------------------------------------------------


def _roles(token: ApiToken) -> str:
    """The roles a token acts with, as a person reads them."""
    if token.roles is None:
        return "all of its subject's"
    return ", ".join(token.roles)


def _status(token: ApiToken, now: datetime) -> str:
    if token.revoked is not None:
        return "revoked"
    if token.expires is not None and token.expires <= now:
        return "expired"
    return "active"


async def token_create(ctx: AuthContext, args: argparse.Namespace) -> None:
    async with ctx.connect(ctx.credentials) as api:
        created = await api.create_api_token(
            args.name, expires_in=args.expires, subject=args.subject, roles=args.roles
        )
    token = created.token
    expires = f"{when(token.expires)} UTC" if token.expires else "never (until revoked)"
    ctx.out.result(
        {**api_token_json(token), "token": created.secret},
        [
            f"API token created: {token.name} (ID {token.id})",
            f"Acts as:  {token.subject}",
            f"Roles:    {_roles(token)}",
            f"Expires:  {expires}",
            "",
            f"    {created.secret}",
            "",
            "Copy it now: it is shown this once. Use it as OPENTACO_TOKEN, with "
            "taco login --token -, or as Terraform's backend password.",
        ],
    )


async def token_list(ctx: AuthContext, args: argparse.Namespace) -> None:
    async with ctx.connect(ctx.credentials) as api:
        tokens = await api.list_api_tokens()
    now = datetime.now(UTC)
    if not tokens:
        lines = ["No API tokens found"]
    else:
        rows = [
            [
                t.id,
                t.name,
                t.subject,
                "all" if t.roles is None else ",".join(t.roles),
                when(t.created),
                when(t.expires) if t.expires else "never",
                _status(t, now),
            ]
            for t in tokens
        ]
        noun = "token" if len(tokens) == 1 else "tokens"
        lines = [
            *table(
                ["ID", "NAME", "SUBJECT", "ROLES", "CREATED (UTC)", "EXPIRES (UTC)", "STATUS"],
                rows,
            ),
            "",
            f"Total: {len(tokens)} {noun}",
        ]
    ctx.out.result(
        {
            "tokens": [{**api_token_json(t), "status": _status(t, now)} for t in tokens],
            "count": len(tokens),
        },
        lines,
    )


async def token_revoke(ctx: AuthContext, args: argparse.Namespace) -> None:
    async with ctx.connect(ctx.credentials) as api:
        await api.revoke_api_token(args.token_id)
    ctx.out.result({"id": args.token_id, "revoked": True}, [f"API token revoked: {args.token_id}"])


AUTH_HANDLERS: dict[str, AuthHandler] = {
    "login": login,
    "logout": logout,
    "whoami": whoami,
    "creds": creds,
    "token.create": token_create,
    "token.ls": token_list,
    "token.revoke": token_revoke,
}
