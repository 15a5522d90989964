"""A state's bytes on their way out: held in memory, or read a slice at a time.

Small states are served from memory. A large one is streamed from one
consistent snapshot of the store, so serving it costs a slice of memory
rather than the whole state (``ports.StateStore.open_state``).
"""

from __future__ import annotations

from typing import Protocol

from taco_core.model import Payload


class StateReader(Protocol):
    """One version's bytes, ``size`` in all, read in order."""

    @property
    def size(self) -> int: ...

    @property
    def whole(self) -> Payload | None:
        """All the bytes when they are in memory already, else ``None``."""
        ...

    async def read(self, limit: int) -> bytes:
        """Up to ``limit`` next bytes; ``b""`` at the end."""
        ...

    async def aclose(self) -> None:
        """Release what the reader holds (a connection, a response); idempotent."""
        ...


class BytesReader:
    """A ``StateReader`` over bytes already in memory."""

    def __init__(self, data: Payload) -> None:
        self._data = data
        self._at = 0

    @property
    def size(self) -> int:
        return len(self._data)

    @property
    def whole(self) -> Payload:
        return self._data

    async def read(self, limit: int) -> bytes:
        chunk = bytes(memoryview(self._data)[self._at : self._at + limit])
        self._at += len(chunk)
        return chunk

    async def aclose(self) -> None:
        return None


async def read_all(reader: StateReader) -> Payload:
    """Every byte of ``reader`` (closing it): for callers that need the whole."""
    try:
        if reader.whole is not None:
            return reader.whole
        out = bytearray()
        while chunk := await reader.read(1024 * 1024):
            out += chunk
        return out
    finally:
        await reader.aclose()
