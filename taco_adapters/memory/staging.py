"""In-process ``UploadStaging``: the public fake, and the staging of a server
on memory storage (one process, so nothing needs sharing).

No method awaits inside its critical section, so on one event loop each call
is atomic without a lock, as the port requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from taco_core.model import StagedUpload


class MemoryUploadStaging:
    """Staged uploads and their parts in dictionaries."""

    def __init__(self) -> None:
        self._uploads: dict[str, StagedUpload] = {}
        self._parts: dict[str, dict[int, bytes]] = {}

    async def begin_upload(self, upload: StagedUpload) -> None:
        self._uploads[upload.id] = upload
        self._parts[upload.id] = {}

    async def get_upload(self, upload_id: str) -> StagedUpload | None:
        return self._uploads.get(upload_id)

    async def put_part(self, upload_id: str, number: int, data: bytes) -> bool:
        parts = self._parts.get(upload_id)
        if parts is None:
            return False
        parts[number] = bytes(data)
        return True

    async def part_sizes(self, upload_id: str) -> Mapping[int, int]:
        parts = self._parts.get(upload_id, {})
        return {number: len(data) for number, data in sorted(parts.items())}

    async def read_part(self, upload_id: str, number: int) -> bytes | None:
        return self._parts.get(upload_id, {}).get(number)

    async def end_upload(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)
        self._parts.pop(upload_id, None)

    async def purge_uploads(self, started_before: datetime) -> int:
        doomed = [u.id for u in self._uploads.values() if u.started < started_before]
        for upload_id in doomed:
            await self.end_upload(upload_id)
        return len(doomed)
