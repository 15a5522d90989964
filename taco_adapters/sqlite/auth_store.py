"""``TokenStore`` and ``SigningKeyStore`` in the SQLite file that holds the states.

One file keeps a backup of the data and its credentials together. The tables
are our own (``auth_*``), created if missing, so the state store's schema and
its version number are untouched. Concurrency works as for the states
(``taco_adapters.sqlite.database``): every mutation is one ``BEGIN IMMEDIATE``
transaction, which SQLite grants to one connection at a time across all
processes, so check-then-write rules (rotate a refresh token once, bootstrap
one admin token, one active signing key) hold between replicas too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from taco_adapters.sqlite.database import SqliteDatabase, execute_script
from taco_adapters.timestamps import (
    decode_optional_time,
    decode_time,
    encode_optional_time,
    encode_time,
)
from taco_core.auth import ApiToken, RefreshToken, SigningKey

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_api_tokens (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    email       TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    created     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    expires     TEXT,
    revoked     TEXT,
    roles_json  TEXT,
    parent      TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS auth_refresh_tokens (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    family      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    email       TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    created     TEXT NOT NULL,
    expires     TEXT NOT NULL,
    used        TEXT,
    revoked     TEXT
);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_family ON auth_refresh_tokens (family);
CREATE TABLE IF NOT EXISTS auth_secrets (
    name        TEXT PRIMARY KEY,
    value       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_signing_keys (
    kid         TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    created     TEXT NOT NULL,
    retired     TEXT
);
"""

_API = (
    "id, secret_hash, name, subject, email, groups_json, created, created_by, expires, revoked, "
    "roles_json, parent"
)
_REFRESH = "id, secret_hash, family, subject, email, groups_json, created, expires, used, revoked"
_KEYS = "kid, algorithm, private_pem, created, retired"


class SqliteAuthStore:
    """Both auth ports in the service's SQLite database file."""

    def __init__(self, path: str | Path, *, connections: int = 2, busy_timeout: float = 30.0):
        self._db = SqliteDatabase(path, connections=connections, busy_timeout=busy_timeout)
        self.path = self._db.path

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SqliteAuthStore:
        """Open the file (creating it, its folder and our tables if missing)."""
        store = cls(path, **kwargs)
        await store._db.open(_create_tables)
        return store

    async def aclose(self) -> None:
        await self._db.aclose()

    # -- API tokens ------------------------------------------------------------

    async def add_api_token(self, token: ApiToken) -> None:
        await self._db.run(lambda c: _insert_api(c, token), write=True)

    async def add_first_api_token(self, token: ApiToken) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM auth_api_tokens LIMIT 1").fetchone():
                return False
            _insert_api(conn, token)
            return True

        return await self._db.run(op, write=True)

    async def find_api_token(self, secret_hash: str) -> ApiToken | None:
        return await self._db.run(lambda c: _one_api(c, "secret_hash", secret_hash), write=False)

    async def get_api_token(self, token_id: str) -> ApiToken | None:
        return await self._db.run(lambda c: _one_api(c, "id", token_id), write=False)

    async def list_api_tokens(self) -> Sequence[ApiToken]:
        def op(conn: sqlite3.Connection) -> list[ApiToken]:
            rows = conn.execute(f"SELECT {_API} FROM auth_api_tokens ORDER BY created, id")
            return [_api_of(row) for row in rows]

        return await self._db.run(op, write=False)

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        def op(conn: sqlite3.Connection) -> ApiToken | None:
            conn.execute(
                "UPDATE auth_api_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (encode_time(at), token_id),
            )
            return _one_api(conn, "id", token_id)

        return await self._db.run(op, write=True)

    # -- refresh tokens ----------------------------------------------------------

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._db.run(lambda c: _insert_refresh(c, token), write=True)

    async def find_refresh_token(self, secret_hash: str) -> RefreshToken | None:
        def op(conn: sqlite3.Connection) -> RefreshToken | None:
            row = conn.execute(
                f"SELECT {_REFRESH} FROM auth_refresh_tokens WHERE secret_hash = ?",
                (secret_hash,),
            ).fetchone()
            return _refresh_of(row) if row else None

        return await self._db.run(op, write=False)

    async def rotate_refresh_token(self, old_id: str, new: RefreshToken, at: datetime) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(
                "UPDATE auth_refresh_tokens SET used = ? "
                "WHERE id = ? AND used IS NULL AND revoked IS NULL",
                (encode_time(at), old_id),
            ).rowcount
            if changed != 1:
                return False
            _insert_refresh(conn, new)
            return True

        return await self._db.run(op, write=True)

    async def revoke_refresh_family(self, family: str, at: datetime) -> None:
        await self._db.run(
            lambda c: c.execute(
                "UPDATE auth_refresh_tokens SET revoked = ? WHERE family = ? AND revoked IS NULL",
                (encode_time(at), family),
            ),
            write=True,
        )

    async def purge_refresh_tokens(self, expired_before: datetime) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM auth_refresh_tokens WHERE expires < ?", (encode_time(expired_before),)
            )
            return cursor.rowcount

        return await self._db.run(op, write=True)

    # -- signing keys ------------------------------------------------------------

    async def list_signing_keys(self) -> Sequence[SigningKey]:
        return await self._db.run(_all_keys, write=False)

    async def activate_signing_key(self, key: SigningKey, *, replacing: str | None) -> SigningKey:
        def op(conn: sqlite3.Connection) -> SigningKey:
            row = conn.execute(
                f"SELECT {_KEYS} FROM auth_signing_keys WHERE retired IS NULL "
                "ORDER BY created DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                current = _key_of(row)
                if current.kid != replacing:
                    return current
                conn.execute(
                    "UPDATE auth_signing_keys SET retired = ? WHERE retired IS NULL",
                    (encode_time(key.created),),
                )
            conn.execute(
                f"INSERT INTO auth_signing_keys ({_KEYS}) VALUES (?, ?, ?, ?, ?)",
                (key.kid, key.algorithm, key.private_pem, encode_time(key.created), None),
            )
            return key

        return await self._db.run(op, write=True)

    async def delete_signing_keys(self, kids: Sequence[str]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM auth_signing_keys WHERE kid = ? AND retired IS NOT NULL",
                [(kid,) for kid in kids],
            )

        await self._db.run(op, write=True)

    # -- secrets -----------------------------------------------------------------

    async def secret(self, name: str, candidate: bytes) -> bytes:
        def op(conn: sqlite3.Connection) -> bytes:
            # One transaction: the first insert wins, every caller reads the winner.
            conn.execute(
                "INSERT OR IGNORE INTO auth_secrets (name, value) VALUES (?, ?)",
                (name, bytes(candidate)),
            )
            row = conn.execute("SELECT value FROM auth_secrets WHERE name = ?", (name,)).fetchone()
            return bytes(row[0])

        return await self._db.run(op, write=True)


# -- row mapping -------------------------------------------------------------


def _create_tables(conn: sqlite3.Connection) -> None:
    execute_script(conn, _SCHEMA)
    _add_missing_columns(conn)


# Columns added since the first release, with their definitions: files made
# before them get them on open. ``roles_json`` is NULL in existing rows, which
# readers take as "not narrowed"; ``parent`` is empty (made by a person or the
# first start, as far as is known).
_ADDED_COLUMNS = {
    "auth_api_tokens": {"roles_json": "TEXT", "parent": "TEXT NOT NULL DEFAULT ''"},
}


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a database made by an older OpenTaco up to this schema, inside
    the opening transaction (so two processes opening it at once cannot both
    add a column)."""
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column, definition in columns.items():
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _insert_api(conn: sqlite3.Connection, t: ApiToken) -> None:
    conn.execute(
        f"INSERT INTO auth_api_tokens ({_API}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            t.id,
            t.secret_hash,
            t.name,
            t.subject,
            t.email,
            json.dumps(list(t.groups)),
            encode_time(t.created),
            t.created_by,
            encode_optional_time(t.expires),
            encode_optional_time(t.revoked),
            None if t.roles is None else json.dumps(list(t.roles)),
            t.parent,
        ),
    )


def _api_of(row: tuple[Any, ...]) -> ApiToken:
    (
        token_id,
        secret_hash,
        name,
        subject,
        email,
        groups,
        created,
        created_by,
        expires,
        revoked,
        roles,
        parent,
    ) = row
    return ApiToken(
        id=token_id,
        name=name,
        secret_hash=secret_hash,
        subject=subject,
        email=email,
        groups=json.loads(groups),
        created=decode_time(created),
        created_by=created_by,
        expires=decode_optional_time(expires),
        revoked=decode_optional_time(revoked),
        roles=None if roles is None else json.loads(roles),
        parent=parent,
    )


def _one_api(conn: sqlite3.Connection, column: str, value: str) -> ApiToken | None:
    row = conn.execute(
        f"SELECT {_API} FROM auth_api_tokens WHERE {column} = ?", (value,)
    ).fetchone()
    return _api_of(row) if row else None


def _insert_refresh(conn: sqlite3.Connection, t: RefreshToken) -> None:
    conn.execute(
        f"INSERT INTO auth_refresh_tokens ({_REFRESH}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            t.id,
            t.secret_hash,
            t.family,
            t.subject,
            t.email,
            json.dumps(list(t.groups)),
            encode_time(t.created),
            encode_time(t.expires),
            encode_optional_time(t.used),
            encode_optional_time(t.revoked),
        ),
    )


def _refresh_of(row: tuple[Any, ...]) -> RefreshToken:
    token_id, secret_hash, family, subject, email, groups, created, expires, used, revoked = row
    return RefreshToken(
        id=token_id,
        family=family,
        secret_hash=secret_hash,
        subject=subject,
        email=email,
        groups=json.loads(groups),
        created=decode_time(created),
        expires=decode_time(expires),
        used=decode_optional_time(used),
        revoked=decode_optional_time(revoked),
    )


def _key_of(row: tuple[Any, ...]) -> SigningKey:
    kid, algorithm, private_pem, created, retired = row
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        private_pem=private_pem,
        created=decode_time(created),
        retired=decode_optional_time(retired),
    )


def _all_keys(conn: sqlite3.Connection) -> list[SigningKey]:
    rows = conn.execute(f"SELECT {_KEYS} FROM auth_signing_keys ORDER BY created DESC")
    return [_key_of(row) for row in rows]
