"""Browser sessions of the web UI: held in this process, named by an opaque cookie.

A session is a random 256-bit ID in an ``HttpOnly``, ``SameSite=Lax`` cookie
(``Secure`` and ``__Host-``-prefixed under TLS) and, here, the credential it
signs in with: the API token typed into the login form, or the access and
refresh tokens ``AuthService.exchange`` gave for an OIDC login. The browser
never holds a credential, every request authenticates the session's
credential again (a revoked token ends its sessions at once), and logging
out forgets the session and ends its OIDC login session
(``AuthService.logout``).

Why in memory rather than in a signed cookie: a cookie would have to carry
the credential itself (our access tokens only stand for OIDC users, not API
tokens), and a copied cookie would then outlive a logout. The cost is that a
restart signs browsers out, and that replicas behind a load balancer need
sticky sessions (or the browser logs in again on the replica it reaches);
``docs/ui.md`` says so.

Every visitor gets a session before signing in, to hold the CSRF token of the
login form and the secrets of an OIDC login in progress; signing in replaces
it with a new ID (no session fixation). Both kinds are bounded in number,
the least recently used going first, and expire after a time without use.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

import anyio
from attrs import define, field, frozen

# How long a session lives without a request, and at most from sign-in.
IDLE_SECONDS = 12 * 3600.0
LIFETIME_SECONDS = 7 * 24 * 3600.0
# How long an OIDC login may take between leaving for the provider and coming back.
LOGIN_SECONDS = 600.0
MAX_SESSIONS = 10_000

COOKIE = "opentaco_ui"
# Under TLS: the browser then refuses the cookie from plain HTTP and from
# any other host or path (RFC 6265bis cookie prefixes).
SECURE_COOKIE = "__Host-opentaco_ui"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@frozen
class PendingLogin:
    """An OIDC login under way: what the callback must find again."""

    state: str
    nonce: str
    verifier: str
    next_page: str
    started: float


@define
class Session:
    """One browser's session. ``credential`` is empty until sign-in;
    ``refresh_token`` is set for OIDC logins."""

    id: str
    csrf: str
    created: float
    last_seen: float
    credential: str = ""
    refresh_token: str = ""
    login: PendingLogin | None = None
    flash: str = ""
    # Serialises the refresh of an expired access token: two requests
    # refreshing at once would present the single-use refresh token twice,
    # which revokes the whole login session (reuse detection).
    refreshing: anyio.Lock = field(factory=anyio.Lock)

    @property
    def signed_in(self) -> bool:
        return bool(self.credential)


class SessionStore:
    """The sessions of this process, bounded and expiring (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        idle: float = IDLE_SECONDS,
        lifetime: float = LIFETIME_SECONDS,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self._clock = clock
        self._idle = idle
        self._lifetime = lifetime
        self._max = max_sessions
        # Kept apart so a flood of visitors who never sign in cannot push
        # out the sessions of people who did.
        self._visitors: OrderedDict[str, Session] = OrderedDict()
        self._signed_in: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._visitors) + len(self._signed_in)

    def get(self, session_id: str) -> Session | None:
        """The live session ``session_id`` names (its use noted), else ``None``."""
        for table in (self._signed_in, self._visitors):
            found = table.get(session_id)
            if found is None:
                continue
            now = self._clock()
            if now - found.last_seen > self._idle or now - found.created > self._lifetime:
                del table[session_id]
                return None
            found.last_seen = now
            table.move_to_end(session_id)
            return found
        return None

    def new(self) -> Session:
        """A fresh session for a visitor who has not signed in."""
        now = self._clock()
        session = Session(id=new_secret(), csrf=new_secret(), created=now, last_seen=now)
        self._add(self._visitors, session)
        return session

    def sign_in(self, old: Session, credential: str, refresh_token: str = "") -> Session:
        """Replace ``old`` with a new signed-in session (new ID, new CSRF token)."""
        self.drop(old.id)
        now = self._clock()
        session = Session(
            id=new_secret(),
            csrf=new_secret(),
            created=now,
            last_seen=now,
            credential=credential,
            refresh_token=refresh_token,
        )
        self._add(self._signed_in, session)
        return session

    def drop(self, session_id: str) -> None:
        self._visitors.pop(session_id, None)
        self._signed_in.pop(session_id, None)

    def login_expired(self, login: PendingLogin) -> bool:
        return self._clock() - login.started > LOGIN_SECONDS

    def now(self) -> float:
        return self._clock()

    def _add(self, table: OrderedDict[str, Session], session: Session) -> None:
        table[session.id] = session
        while len(table) > self._max:
            table.popitem(last=False)
