"""In-process ``DirectoryStore``: a public fake, and the store of a server on
memory storage, where nothing outlives the process anyway.

``save`` does not await between its check and its write, so on one event
loop it is atomic without a lock, as the port requires. The document is
frozen, so keeping the object itself round-trips every field.
"""

from __future__ import annotations

from taco_core.directory import Directory


class MemoryDirectoryStore:
    """The organization directory in a variable."""

    def __init__(self) -> None:
        self._directory: Directory | None = None

    async def load(self) -> Directory | None:
        return self._directory

    async def save(self, directory: Directory, expected_version: int | None) -> bool:
        current = None if self._directory is None else self._directory.version
        if current != expected_version:
            return False
        self._directory = directory
        return True
