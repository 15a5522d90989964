"""In-process ``TokenStore`` and ``SigningKeyStore``: public fakes for tests and
for a server on memory storage, where nothing outlives the process anyway.

No method awaits inside its critical section, so on one event loop each call
is atomic without a lock, as the ports require.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from taco_core.auth import ApiToken, RefreshToken, SigningKey, active_key


class MemoryAuthStore:
    """Both auth ports over dictionaries."""

    def __init__(self) -> None:
        self._api: dict[str, ApiToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._keys: dict[str, SigningKey] = {}
        self._secrets: dict[str, bytes] = {}

    async def aclose(self) -> None:
        """Nothing to release."""

    # -- API tokens ------------------------------------------------------------

    async def add_api_token(self, token: ApiToken) -> None:
        self._api[token.id] = token

    async def add_first_api_token(self, token: ApiToken) -> bool:
        if self._api:
            return False
        self._api[token.id] = token
        return True

    async def find_api_token(self, secret_hash: str) -> ApiToken | None:
        return next((t for t in self._api.values() if t.secret_hash == secret_hash), None)

    async def get_api_token(self, token_id: str) -> ApiToken | None:
        return self._api.get(token_id)

    async def list_api_tokens(self) -> Sequence[ApiToken]:
        return sorted(self._api.values(), key=lambda t: (t.created, t.id))

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        token = self._api.get(token_id)
        if token is None:
            return None
        if token.revoked is None:
            token = self._api[token_id] = attrs.evolve(token, revoked=at)
        return token

    # -- refresh tokens ----------------------------------------------------------

    async def add_refresh_token(self, token: RefreshToken) -> None:
        self._refresh[token.id] = token

    async def find_refresh_token(self, secret_hash: str) -> RefreshToken | None:
        return next((t for t in self._refresh.values() if t.secret_hash == secret_hash), None)

    async def rotate_refresh_token(self, old_id: str, new: RefreshToken, at: datetime) -> bool:
        old = self._refresh.get(old_id)
        if old is None or old.used is not None or old.revoked is not None:
            return False
        self._refresh[old_id] = attrs.evolve(old, used=at)
        self._refresh[new.id] = new
        return True

    async def revoke_refresh_family(self, family: str, at: datetime) -> None:
        for token_id, token in list(self._refresh.items()):
            if token.family == family and token.revoked is None:
                self._refresh[token_id] = attrs.evolve(token, revoked=at)

    async def purge_refresh_tokens(self, expired_before: datetime) -> int:
        doomed = [i for i, t in self._refresh.items() if t.expires < expired_before]
        for token_id in doomed:
            del self._refresh[token_id]
        return len(doomed)

    # -- signing keys ------------------------------------------------------------

    async def list_signing_keys(self) -> Sequence[SigningKey]:
        return sorted(self._keys.values(), key=lambda k: k.created, reverse=True)

    async def activate_signing_key(self, key: SigningKey, *, replacing: str | None) -> SigningKey:
        current = active_key(list(self._keys.values()))
        if current is not None:
            if current.kid != replacing:
                return current
            self._keys[current.kid] = attrs.evolve(current, retired=key.created)
        self._keys[key.kid] = key
        return key

    async def delete_signing_keys(self, kids: Sequence[str]) -> None:
        for kid in kids:
            key = self._keys.get(kid)
            if key is not None and key.retired is not None:
                del self._keys[kid]

    async def secret(self, name: str, candidate: bytes) -> bytes:
        return self._secrets.setdefault(name, bytes(candidate))
