"""Credentials on the wire: API token records, token pairs, the caller."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import parse_time, rfc3339
from taco_core.auth import ApiToken, IssuedTokens, NewApiToken, Principal, PrincipalKind


@frozen
class ApiTokenDoc:
    """An API token's record (``api_token_json``); never its secret."""

    id: str
    name: str
    subject: str
    email: str
    groups: list[str]
    created: datetime
    created_by: str
    expires: datetime | None
    revoked: datetime | None
    # The token's narrowing (null: every role of its subject), and the token
    # it was made with (null: made by a login or at bootstrap).
    roles: list[str] | None
    parent: str | None


@frozen
class ApiTokenListDoc:
    tokens: list[ApiTokenDoc]
    count: int


@frozen
class NewApiTokenDoc(ApiTokenDoc):
    """A token just created: its record and, this once, its secret (``token``)."""

    token: str


@frozen
class IssuedTokensDoc:
    """A token pair (RFC 6749 section 5.1), ``issued_tokens_json``."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: str


@frozen
class PrincipalDoc:
    """The caller (``principal_json``); ``token_id`` when an API token acts."""

    subject: str
    email: str
    groups: list[str]
    kind: PrincipalKind
    token_id: str = ""


def api_token_json(token: ApiToken) -> dict[str, Any]:
    """An API token's record as listed; never its secret or the secret's hash.
    ``roles`` is the token's narrowing, ``null`` when it acts with every role
    of its subject."""
    return {
        "id": token.id,
        "name": token.name,
        "subject": token.subject,
        "email": token.email,
        "groups": list(token.groups),
        "created": rfc3339(token.created),
        "created_by": token.created_by,
        "expires": rfc3339(token.expires) if token.expires else None,
        "revoked": rfc3339(token.revoked) if token.revoked else None,
        "roles": list(token.roles) if token.roles is not None else None,
        "parent": token.parent or None,
    }


def api_token_from_json(doc: Mapping[str, Any]) -> ApiToken:
    """A token record from ``api_token_json``'s shape; the hash stays on the
    server, so ``secret_hash`` is empty."""
    expires, revoked, roles = doc.get("expires"), doc.get("revoked"), doc.get("roles")
    return ApiToken(
        id=str(doc["id"]),
        name=str(doc.get("name") or ""),
        secret_hash="",
        subject=str(doc.get("subject") or ""),
        created=parse_time(doc["created"]),
        created_by=str(doc.get("created_by") or ""),
        email=str(doc.get("email") or ""),
        groups=[str(g) for g in doc.get("groups") or []],
        expires=parse_time(expires) if expires else None,
        revoked=parse_time(revoked) if revoked else None,
        roles=[str(r) for r in roles] if isinstance(roles, list) else None,
        parent=str(doc.get("parent") or ""),
    )


def api_tokens_json(tokens: list[ApiToken]) -> dict[str, Any]:
    return {"tokens": [api_token_json(t) for t in tokens], "count": len(tokens)}


def api_tokens_from_json(doc: Mapping[str, Any]) -> list[ApiToken]:
    return [api_token_from_json(t) for t in doc.get("tokens", [])]


def new_api_token_json(created: NewApiToken) -> dict[str, Any]:
    """A token just created: its record and, this once, its secret (``token``)."""
    return {**api_token_json(created.token), "token": created.secret}


def new_api_token_from_json(doc: Mapping[str, Any]) -> NewApiToken:
    return NewApiToken(api_token_from_json(doc), str(doc["token"]))


def issued_tokens_json(issued: IssuedTokens) -> dict[str, Any]:
    """A token pair as OAuth 2.0 hands one out (RFC 6749 section 5.1)."""
    return {
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "expires_in": issued.expires_in,
        "refresh_expires_in": issued.refresh_expires_in,
        "token_type": "Bearer",
    }


def issued_tokens_from_json(doc: Mapping[str, Any]) -> IssuedTokens:
    return IssuedTokens(
        access_token=str(doc["access_token"]),
        expires_in=int(doc.get("expires_in") or 0),
        refresh_token=str(doc.get("refresh_token") or ""),
        refresh_expires_in=int(doc.get("refresh_expires_in") or 0),
    )


def principal_json(principal: Principal) -> dict[str, Any]:
    """The caller: ``token_id`` appears when an API token acts for them."""
    doc: dict[str, Any] = {
        "subject": principal.subject,
        "email": principal.email,
        "groups": list(principal.groups),
        "kind": str(principal.kind),
    }
    if principal.token_id:
        doc["token_id"] = principal.token_id
    return doc


def principal_from_json(doc: Mapping[str, Any]) -> Principal:
    """The caller as the server described it; an unknown kind reads as a user."""
    try:
        kind = PrincipalKind(str(doc.get("kind") or PrincipalKind.USER))
    except ValueError:
        kind = PrincipalKind.USER
    return Principal(
        subject=str(doc.get("subject") or ""),
        kind=kind,
        email=str(doc.get("email") or ""),
        groups=[str(g) for g in doc.get("groups") or []],
        token_id=str(doc.get("token_id") or ""),
    )
