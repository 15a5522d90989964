"""An OpenID Connect provider's discovery document, fetched and checked once
for everything that needs it: the server's ID-token verifier (keys, issuer)
and ``taco login`` (the authorization and token endpoints).

The document lives at ``<issuer>/.well-known/openid-configuration`` and must
name the issuer it was fetched for; otherwise it describes another provider
and nothing in it is trusted.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from taco_core.errors import IdentityProviderUnavailable


def same_issuer(a: str, b: str) -> bool:
    """Issuer URLs compare equal up to a trailing slash."""
    return a.rstrip("/") == b.rstrip("/")


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def fetch_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """GET ``url`` as a JSON object; ``IdentityProviderUnavailable`` saying
    why when the provider cannot be reached or answers anything else."""
    try:
        async with session.get(url, headers={"Accept": "application/json"}) as reply:
            if reply.status != 200:
                raise IdentityProviderUnavailable(f"{url} answered HTTP {reply.status}")
            doc = await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        raise IdentityProviderUnavailable(
            f"cannot fetch {url}: {reason or type(exc).__name__}"
        ) from None
    if not isinstance(doc, dict):
        raise IdentityProviderUnavailable(f"{url} did not answer a JSON object")
    return doc


async def discover(session: aiohttp.ClientSession, issuer: str) -> dict[str, Any]:
    """The discovery document of ``issuer``, checked to name that issuer."""
    url = discovery_url(issuer)
    doc = await fetch_json(session, url)
    named = doc.get("issuer")
    if not isinstance(named, str) or not same_issuer(named, issuer):
        raise IdentityProviderUnavailable(
            f"the discovery document at {url} names issuer {named!r}, not {issuer!r}"
        )
    return doc
