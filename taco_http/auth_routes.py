"""The auth API under ``/v1/auth``: what ``taco login/logout/whoami/token`` call.

- ``GET /v1/auth/config``: what a login client needs (issuer, client ID,
  endpoints, redirect URI, scopes) and whether auth is on at all.
- ``POST /v1/auth/exchange`` ``{"id_token", "nonce"?}`` and ``POST
  /v1/auth/token`` ``{"refresh_token"}``: both answer ``{"access_token",
  "refresh_token", "expires_in", "refresh_expires_in", "token_type"}``; the
  refresh token is single-use.
- ``POST /v1/auth/logout`` ``{"refresh_token"}``: ends that login session
  (always 200, like RFC 7009 revocation, so it reveals nothing).
- ``GET /v1/auth/me``: the caller. ``GET /v1/auth/jwks``: our public keys.
- ``POST /v1/auth/issue-s3-creds``: short-lived credentials for the S3
  endpoint, as AWS's ``credential_process`` JSON (``taco creds --json``).
- ``POST /v1/auth/tokens`` ``{"name", "expires_in"?, "subject"?, "roles"?}``
  (``expires_in``: seconds or ``"90d"``; ``subject``: a service subject, for
  callers allowed ``token.manage``; ``roles``: narrow the token to these
  roles of its subject) answers 201 with the token's secret, the only time it
  is shown; ``GET /v1/auth/tokens`` lists, ``DELETE /v1/auth/tokens/{id}`` revokes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import (
    CREDENTIAL_PROCESS_NAMES,
    ApiTokenListDoc,
    AuthConfig,
    CredentialProcessDoc,
    ExchangeRequest,
    IssuedTokensDoc,
    JwksDoc,
    MessageDoc,
    NewApiTokenDoc,
    PrincipalDoc,
    RefreshRequest,
    TokenRequest,
    api_tokens_json,
    auth_config_json,
    issued_tokens_json,
    new_api_token_json,
    principal_json,
    s3_credentials_json,
    structure,
)
from taco_core.auth_service import MAX_API_TOKEN_LIFETIME, AuthService
from taco_core.caller import Caller
from taco_core.errors import InvalidInput
from taco_core.model import Surface
from taco_http.auth import caller_of, principal_of
from taco_http.body import read_json_object
from taco_http.context import services_of
from taco_http.operations import Json, Operation, Param, Reply, error, errors, ok
from taco_http.settings import SettingsError, parse_duration

# Where `taco login` listens for the provider's redirect; register it with the
# provider as an allowed callback of the CLI's client.
REDIRECT_URIS = ("http://127.0.0.1:8585/callback",)
SCOPES = ("openid", "profile", "email")


def _auth(request: Request) -> AuthService:
    return services_of(request).auth


def _caller(request: Request) -> Caller:
    return caller_of(request, Surface.API)


async def config(request: Request) -> Response:
    services = services_of(request)
    settings, oidc = services.settings, services.oidc
    endpoints = await oidc.endpoints() if oidc is not None else {}
    published = AuthConfig(
        auth_enabled=not settings.auth_disable,
        oidc_enabled=bool(settings.auth_issuer),
        issuer=settings.auth_issuer,
        client_id=settings.auth_client_id,
        authorization_endpoint=endpoints.get("authorization_endpoint", ""),
        token_endpoint=endpoints.get("token_endpoint", ""),
        redirect_uris=REDIRECT_URIS,
        scopes=SCOPES,
    )
    return JSONResponse(auth_config_json(published))


async def exchange(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "exchange request"), ExchangeRequest, "exchange request"
    )
    issued = await _auth(request).exchange(req.id_token, nonce=req.nonce)
    return JSONResponse(issued_tokens_json(issued), headers={"Cache-Control": "no-store"})


async def refresh(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "refresh request"), RefreshRequest, "refresh request"
    )
    issued = await _auth(request).refresh(req.refresh_token)
    return JSONResponse(issued_tokens_json(issued), headers={"Cache-Control": "no-store"})


async def logout(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "logout request"), RefreshRequest, "logout request"
    )
    await _auth(request).logout(req.refresh_token)
    return JSONResponse({"message": "Logged out"})


async def me(request: Request) -> Response:
    return JSONResponse(principal_json(principal_of(request)))


async def issue_s3_credentials(request: Request) -> Response:
    credentials = await services_of(request).s3_credentials.issue(principal_of(request))
    return JSONResponse(s3_credentials_json(credentials), headers={"Cache-Control": "no-store"})


async def jwks(request: Request) -> Response:
    keys = await _auth(request).public_keys()
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


def _lifetime(doc: dict[str, Any]) -> timedelta | None:
    raw = doc.get("expires_in")
    if raw is None:
        return None
    seconds: float
    if isinstance(raw, int) and not isinstance(raw, bool):
        seconds = raw
    elif isinstance(raw, str):
        try:
            seconds = parse_duration("expires_in", raw)
        except SettingsError as exc:
            raise InvalidInput(str(exc)) from None
    else:
        raise InvalidInput('expires_in must be seconds or a duration such as "90d"')
    # Checked before a timedelta is made of it, which cannot hold every number.
    if seconds <= 0:
        raise InvalidInput("expires_in must be positive")
    if seconds > MAX_API_TOKEN_LIFETIME.total_seconds():
        raise InvalidInput(
            f"expires_in must be at most {MAX_API_TOKEN_LIFETIME.days}d; leave it out for a "
            "token that lives until revoked"
        )
    return timedelta(seconds=seconds)


def _optional_text(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f'"{key}" must be a string, e.g. "ci-dev"')
    return value


def _roles(doc: dict[str, Any]) -> list[str] | None:
    value = doc.get("roles")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise InvalidInput('"roles" must be a list of role IDs, e.g. ["ci-dev"]')
    return value


async def create_token(request: Request) -> Response:
    doc = await read_json_object(request, "token request")
    name = doc.get("name")
    if not isinstance(name, str):
        raise InvalidInput('a token request needs a "name" string, e.g. {"name": "ci"}')
    created = await _auth(request).create_api_token(
        _caller(request),
        name,
        expires_in=_lifetime(doc),
        subject=_optional_text(doc, "subject"),
        roles=_roles(doc),
    )
    return JSONResponse(
        new_api_token_json(created), status_code=201, headers={"Cache-Control": "no-store"}
    )


async def list_tokens(request: Request) -> Response:
    tokens = await _auth(request).list_api_tokens(_caller(request))
    return JSONResponse(api_tokens_json(list(tokens)))


async def revoke_token(request: Request) -> Response:
    await _auth(request).revoke_api_token(_caller(request), request.path_params["token_id"])
    return Response(status_code=204)


_TAG = "auth"
_NO_STORE = {"Cache-Control": "no-store: the body holds secrets"}

OPERATIONS = (
    Operation(
        "GET",
        "/v1/auth/config",
        "How to log in to this server",
        _TAG,
        description="Whether authentication is on, and the OIDC provider, client ID, "
        "endpoints, redirect URIs and scopes a login client needs.",
        replies=(ok(AuthConfig),),
        public=True,
    ),
    Operation(
        "POST",
        "/v1/auth/exchange",
        "Trade an ID token of the OIDC provider for this server's tokens",
        _TAG,
        body=Json(ExchangeRequest),
        body_required=True,
        replies=(
            Reply(200, "a new login session", Json(IssuedTokensDoc), _NO_STORE),
            *errors(400),
            error(401, "the ID token (or its nonce) is not valid"),
            *errors(501, 502),
        ),
        public=True,
    ),
    Operation(
        "POST",
        "/v1/auth/token",
        "A new token pair for a refresh token, which is used up",
        _TAG,
        description="Presenting a used refresh token again revokes its whole session.",
        body=Json(RefreshRequest),
        body_required=True,
        replies=(
            Reply(200, "the next tokens of the session", Json(IssuedTokensDoc), _NO_STORE),
            *errors(400),
            error(401, "the refresh token is unknown, used, revoked or expired"),
        ),
        public=True,
    ),
    Operation(
        "POST",
        "/v1/auth/logout",
        "End the login session a refresh token belongs to",
        _TAG,
        description="Always 200 for a well-formed request, like RFC 7009 revocation.",
        body=Json(RefreshRequest),
        body_required=True,
        replies=(ok(MessageDoc, "logged out (or nothing to do)"), *errors(400)),
        public=True,
    ),
    Operation(
        "POST",
        "/v1/auth/issue-s3-creds",
        "Short-lived S3 credentials acting as the caller, for the S3 endpoint",
        _TAG,
        description="AWS's credential_process document (what `taco creds --json` prints): "
        "sign requests to /s3 with it. They expire with the credential that asked for them, "
        "at the latest, and die with the API token they were issued for. No request body.",
        replies=(
            Reply(
                200,
                "the credentials",
                Json(
                    CredentialProcessDoc,
                    name="CredentialProcess",
                    rename=CREDENTIAL_PROCESS_NAMES,
                ),
                _NO_STORE,
            ),
        ),
    ),
    Operation(
        "GET",
        "/v1/auth/me",
        "Who the server takes the caller for",
        _TAG,
        replies=(ok(PrincipalDoc),),
    ),
    Operation(
        "GET",
        "/v1/auth/jwks",
        "The public keys of this server's access tokens",
        _TAG,
        replies=(ok(JwksDoc, "a JSON Web Key Set"),),
        public=True,
    ),
    Operation(
        "GET",
        "/v1/auth/tokens",
        "The caller's API tokens (every token, for admins)",
        _TAG,
        replies=(ok(ApiTokenListDoc),),
    ),
    Operation(
        "POST",
        "/v1/auth/tokens",
        "Create an API token acting as the caller",
        _TAG,
        description="The secret is in this answer only: the server keeps its hash.",
        body=Json(TokenRequest),
        body_required=True,
        replies=(
            Reply(201, "the token and its secret", Json(NewApiTokenDoc), _NO_STORE),
            *errors(400, 403),
        ),
    ),
    Operation(
        "DELETE",
        "/v1/auth/tokens/{token_id}",
        "Revoke an API token",
        _TAG,
        params=(Param("token_id", "path", "the token's ID"),),
        replies=(Reply(204, "revoked (or already revoked)"), *errors(404)),
    ),
)
