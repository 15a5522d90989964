"""The user's saved tokens: ``~/.config/opentaco/credentials.json``.

Shared by every client on the machine: ``taco login`` writes it, and the
``taco`` CLI and the Terraform provider send (and renew) what it holds, which
is why it lives beside the HTTP client rather than in either front end.

The file is the one the reference CLI reads, ``{"profiles": {"<server base
URL>": {"access_token", "refresh_token"}}}``, so both CLIs share a login. It
lives under ``$XDG_CONFIG_HOME`` when that is set. It holds secrets, so the
directory is created 0700 and the file is written 0600 from its first byte
(atomically: a crash never leaves half a file), and keys and fields this CLI
does not know are kept when it rewrites the file.

A profile belongs to exactly one server: a token is never sent to a server it
was not saved for (the reference falls back to "the only profile", which
would hand one server's token to another). The loopback names of this
machine are one server, though: a login saved for ``http://localhost:8080``
is the one for ``http://127.0.0.1:8080`` and ``http://[::1]:8080`` too,
rather than a "not logged in" that the user cannot explain.

Every change happens under an exclusive lock on a lock file beside it. That
matters most for a refresh: refresh tokens are single-use and the server
revokes the whole session when one is presented twice, so two ``taco``
processes renewing at once must not both spend the same token. The second
one waits, sees the rotated pair and uses it instead.

A file that cannot be read or written raises ``CredentialsFileError``, whose
message names the file and the fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from attrs import frozen

from taco_adapters.remote.credentials import Refresher

if sys.platform != "win32":
    import fcntl

CREDENTIALS_FILE = "credentials.json"
_LOCK_FILE = ".credentials.lock"


class CredentialsFileError(Exception):
    """The credentials file cannot be read, locked or written, or is damaged;
    the message names the file and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def config_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/opentaco``, else ``~/.config/opentaco``.

    A relative ``XDG_CONFIG_HOME`` is ignored, as the XDG specification says.
    """
    xdg = environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "opentaco"


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def same_server(server: str) -> list[str]:
    """``server`` and, for a loopback URL, the same URL under this machine's
    other loopback names (same scheme, port and path)."""
    parts = urlsplit(server)
    host = parts.hostname or ""
    spelled = f"[{host}]" if ":" in host else host
    if spelled not in _LOOPBACK_HOSTS:
        return [server]
    port = f":{parts.port}" if parts.port is not None else ""
    others = [parts._replace(netloc=f"{h}{port}").geturl() for h in _LOOPBACK_HOSTS]
    return [server, *(o for o in others if o != server)]


@frozen
class Profile:
    """One server's tokens. An API token saved by ``taco login --token`` has
    no refresh token: it cannot be renewed, only replaced."""

    access_token: str
    refresh_token: str = ""


class Profiles:
    """The profiles of the file while it is being edited (see ``CredentialsFile.editing``)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc
        profiles = doc.get("profiles")
        self._profiles: dict[str, Any] = profiles if isinstance(profiles, dict) else {}
        doc["profiles"] = self._profiles
        self.changed = False

    def get(self, server: str) -> Profile | None:
        """The profile saved for ``server`` (under any of its loopback names,
        ``same_server``); an entry without an access token (written by hand,
        or by another tool) counts as none."""
        for name in same_server(server):
            entry = self._profiles.get(name)
            if isinstance(entry, dict) and isinstance(entry.get("access_token"), str):
                refresh = entry.get("refresh_token")
                return Profile(entry["access_token"], refresh if isinstance(refresh, str) else "")
        return None

    def set(self, server: str, profile: Profile) -> None:
        """Save ``profile`` for ``server``, keeping fields other tools put there;
        the server's entries under its other loopback names are replaced by it."""
        entry = self._profiles.get(server)
        entry = dict(entry) if isinstance(entry, dict) else {}
        entry.update(access_token=profile.access_token, refresh_token=profile.refresh_token)
        for alias in same_server(server)[1:]:
            self._profiles.pop(alias, None)
        self._profiles[server] = entry
        self.changed = True

    def remove(self, server: str) -> Profile | None:
        """Forget ``server``'s profile, under every one of its names."""
        found = self.get(server)
        for name in same_server(server):
            if name in self._profiles:
                del self._profiles[name]
                self.changed = True
        return found

    def document(self) -> dict[str, Any]:
        """The whole file's JSON, unknown keys included, as it will be written."""
        return self._doc


class CredentialsFile:
    """The credentials file at ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def default(cls, environ: Mapping[str, str]) -> CredentialsFile:
        """The user's file (see ``config_dir``)."""
        return cls(config_dir(environ) / CREDENTIALS_FILE)

    def read(self) -> Profiles:
        """The saved profiles (none when the file does not exist yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Profiles({})
        except OSError as exc:
            raise CredentialsFileError(
                f"cannot read the credentials file {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            doc = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise self._damaged(str(exc)) from None
        if not isinstance(doc, dict):
            raise self._damaged("it is not a JSON object")
        return Profiles(doc)

    def profile(self, server: str) -> Profile | None:
        """The profile of ``server``, read without taking the lock (a reader
        sees the old or the new file, never half of one: writes are atomic)."""
        return self.read().get(server)

    def exposure(self) -> str | None:
        """Why the file is readable by others, or ``None`` when it is private."""
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except OSError:
            return None
        if sys.platform == "win32" or not mode & 0o077:
            return None
        return (
            f"the credentials file {self.path} is readable by others (mode {mode:04o}); "
            f"protect it with: chmod 600 {self.path}"
        )

    @contextlib.asynccontextmanager
    async def editing(self) -> AsyncIterator[Profiles]:
        """The profiles, locked against other ``taco`` processes until the
        block ends, then written back if they changed."""
        async with self._locked():
            profiles = self.read()
            yield profiles
            if profiles.changed:
                self._write(profiles.document())

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        try:
            self._make_dir()
            fd = os.open(self.path.parent / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CredentialsFileError(
                f"cannot lock the credentials file in {self.path.parent}: {exc.strerror or exc}"
            ) from None
        try:
            if sys.platform != "win32":
                # In a thread: waiting for another process must not stall this event loop.
                await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _make_dir(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _write(self, doc: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as sink:
                json.dump(doc, sink, indent=2)
                sink.write("\n")
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise CredentialsFileError(
                f"cannot save the credentials file {self.path}: {exc.strerror or exc}"
            ) from None

    def _damaged(self, why: str) -> CredentialsFileError:
        return CredentialsFileError(
            f"the credentials file {self.path} is damaged ({why}); "
            "delete it and log in again with: taco login"
        )


class SavedCredentials:
    """One server's profile of the credentials file, as the ``Credentials``
    that ``RemoteStateControl`` sends and renews."""

    def __init__(self, store: CredentialsFile, server: str, profile: Profile) -> None:
        self.store = store
        self.server = server
        self._profile = profile

    @classmethod
    def load(cls, store: CredentialsFile, server: str) -> SavedCredentials | None:
        """The saved login for ``server``, or ``None`` when there is none."""
        profile = store.profile(server)
        return None if profile is None else cls(store, server, profile)

    @property
    def profile(self) -> Profile:
        """The tokens as last read or renewed."""
        return self._profile

    def token(self) -> str | None:
        """The access token (or API token) to send."""
        return self._profile.access_token or None

    async def renew(self, refused: str, refresh: Refresher) -> str | None:
        """``Credentials.renew`` under the file's lock: the file is read again
        first, because another process may have renewed (or logged out) since
        this one started."""
        async with self.store.editing() as profiles:
            current = profiles.get(self.server)
            if current is None:
                return None  # logged out meanwhile
            self._profile = current
            if current.access_token != refused:
                return current.access_token  # renewed meanwhile, by another call or process
            if not current.refresh_token:
                return None  # an API token: nothing to renew it with
            issued = await refresh(current.refresh_token)
            self._profile = Profile(issued.access_token, issued.refresh_token)
            profiles.set(self.server, self._profile)
        return self._profile.access_token
