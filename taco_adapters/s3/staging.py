"""``UploadStaging`` in the bucket that holds the states, for any number of replicas.

The parts of one multipart upload may reach different replicas behind a
load balancer, so they are kept in the bucket, under
``<prefix>/__opentaco/uploads/<upload-id>/`` (a folder no unit ID can name):

- ``upload.json``: the upload's record (target, owner, start), written once;
  the upload exists while it does.
- ``parts/<number>``: each part's bytes, replaced when a part is sent again.

``put_part`` checks the record before writing, so a part for an unknown
upload is refused; a part racing with the end of its upload may be left
behind, and ``purge_uploads`` removes such leftovers once they are old,
together with abandoned uploads (those whose record says they started
before the cutoff). Upload IDs are random, so two uploads never
share a folder.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from taco_adapters.s3.bucket import BucketStore, FanOut, S3Bucket, S3Object
from taco_adapters.s3.layout import Layout
from taco_adapters.timestamps import decode_time, encode_time
from taco_core.errors import StorageUnavailable
from taco_core.model import StagedUpload

RECORD = "upload.json"
PARTS_DIR = "parts/"
FORMAT = 1
_FAN_OUT = 8


class S3UploadStaging(BucketStore):
    """Staged multipart uploads as objects beside the states."""

    # Keys per ListObjectsV2 page; tests lower it to exercise pagination.
    page_size = 1000

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        self._root = Layout(prefix).uploads_root()
        self._each = FanOut(_FAN_OUT)

    def _folder(self, upload_id: str) -> str:
        return f"{self._root}{upload_id}/"

    async def begin_upload(self, upload: StagedUpload) -> None:
        assert _valid(upload.id), "upload IDs are made by the service"
        record = {
            "format": FORMAT,
            "id": upload.id,
            "target": upload.target,
            "owner": upload.owner,
            "started": encode_time(upload.started),
        }
        await self._s3.put(self._folder(upload.id) + RECORD, json.dumps(record).encode())

    async def get_upload(self, upload_id: str) -> StagedUpload | None:
        if not _valid(upload_id):
            return None
        found = await self._s3.get(self._folder(upload_id) + RECORD)
        if found is None:
            return None
        try:
            doc = json.loads(found.body or b"")
            return StagedUpload(
                id=str(doc["id"]),
                target=str(doc["target"]),
                owner=str(doc["owner"]),
                started=decode_time(str(doc["started"])),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageUnavailable(f"upload record {found.key} is unreadable: {exc}") from exc

    async def put_part(self, upload_id: str, number: int, data: bytes) -> bool:
        if not _valid(upload_id):
            return False
        folder = self._folder(upload_id)
        if await self._s3.head(folder + RECORD) is None:
            return False
        await self._s3.put(folder + _part_name(number), data)
        return True

    async def part_sizes(self, upload_id: str) -> Mapping[int, int]:
        if not _valid(upload_id):
            return {}
        prefix = self._folder(upload_id) + PARTS_DIR
        sizes: dict[int, int] = {}
        async for obj in self._s3.list(prefix, page_size=self.page_size):
            name = obj.key[len(prefix) :]
            if name.isdigit():
                sizes[int(name)] = obj.size
        return dict(sorted(sizes.items()))

    async def read_part(self, upload_id: str, number: int) -> bytes | None:
        if not _valid(upload_id):
            return None
        found = await self._s3.get(self._folder(upload_id) + _part_name(number))
        return found.body if found is not None else None

    async def end_upload(self, upload_id: str) -> None:
        if not _valid(upload_id):
            return
        folder = self._folder(upload_id)
        # The record first: from then on no new part is accepted.
        await self._s3.delete(folder + RECORD)
        await self._delete_all([obj async for obj in self._s3.list(folder, page_size=1000)])

    async def purge_uploads(self, started_before: datetime) -> int:
        by_upload: dict[str, list[S3Object]] = {}
        async for obj in self._s3.list(self._root, page_size=self.page_size):
            upload_id = obj.key[len(self._root) :].split("/", 1)[0]
            by_upload.setdefault(upload_id, []).append(obj)
        ended = 0
        for upload_id, objects in by_upload.items():
            has_record = any(o.key.endswith("/" + RECORD) for o in objects)
            upload = await self.get_upload(upload_id) if has_record else None
            # Leftovers of an ended upload (no record) are judged by their newest part.
            started = upload.started if upload is not None else max(map(_modified, objects))
            if started < started_before:
                await self._delete_all(objects)
                ended += upload is not None
        return ended

    async def _delete_all(self, objects: Sequence[S3Object]) -> None:
        await self._each([_deleter(self._s3, obj.key) for obj in objects])


def _deleter(s3: S3Bucket, key: str) -> Callable[[], Awaitable[None]]:
    async def delete() -> None:
        await s3.delete(key)

    return delete


def _modified(obj: S3Object) -> datetime:
    return obj.last_modified


def _valid(upload_id: str) -> bool:
    # IDs are the service's own (hex), but one from a request must never
    # name another folder.
    return bool(upload_id) and "/" not in upload_id and upload_id not in (".", "..")


def _part_name(number: int) -> str:
    return f"{PARTS_DIR}{number:05d}"
