"""What the HTTP client sends to prove who is calling, and how it renews it.

The client never stores tokens itself, so one implementation can keep them in
a file shared by several processes (``credentials_file``) and another in
memory (``StaticToken``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from taco_core.auth import IssuedTokens

Refresher = Callable[[str], Awaitable[IssuedTokens]]
"""Trades a refresh token for a new token pair at the server (``POST /v1/auth/token``)."""


class Credentials(Protocol):
    """The Bearer token of every request, and what to do when it is refused."""

    def token(self) -> str | None:
        """The token to send as ``Authorization: Bearer``, or ``None`` to send none."""
        ...

    async def renew(self, refused: str, refresh: Refresher) -> str | None:
        """Called at most once per request, after the server answered 401 to
        ``refused``. Return the token to resend the request with, or ``None``
        when there is nothing better (the 401 then stands).

        An implementation holding a refresh token calls ``refresh`` with it
        and keeps the rotated pair *before* returning, because the old refresh
        token is spent; when ``token()`` has meanwhile moved past ``refused``
        (another call or process renewed first), it returns the newer token
        instead of refreshing again, since a refresh token presented twice
        ends the whole session. ``Unauthenticated`` from ``refresh`` means the
        session is over; the client reports it as ``SessionExpired``.
        """
        ...


class StaticToken:
    """``Credentials`` of one fixed token (an API token in CI, say); nothing to renew."""

    def __init__(self, token: str) -> None:
        self._token = token.strip()

    def token(self) -> str | None:
        """The token, or ``None`` when it is blank (send no header at all)."""
        return self._token or None

    async def renew(self, refused: str, refresh: Refresher) -> str | None:
        """Nothing to renew: a refused fixed token stays refused."""
        return None
