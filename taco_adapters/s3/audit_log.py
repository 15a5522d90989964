"""``AuditLog`` in the S3 bucket that holds the states.

Layout, under ``<prefix>/__opentaco/audit/`` (a folder no unit ID can name):
one object per record, ``<record-id>.<unit-hash>.<subject-hash>.json``,
created with ``If-None-Match: *`` and never rewritten. Record IDs sort in
time order (``taco_core.audit``), so:

- a query by ``since`` or by cursor is one ``ListObjectsV2`` starting after
  that point, and a purge by age lists from the start and stops at the
  first record young enough to keep;
- the filters (unit, subject) are answered from the listing alone: the key
  carries an 8-hex-digit SHA-256 prefix of each, and only the objects whose
  hashes match are read, then checked exactly (a hash collision is dropped).

A query lists at most ``scan_budget`` keys: a filter that matches rarely
over a long trail answers a short (even empty) page with a cursor to go on
from, rather than list the whole bucket in one request.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from taco_adapters.s3.bucket import BucketStore, FanOut, PreconditionFailed, S3Bucket
from taco_adapters.s3.layout import Layout
from taco_adapters.timestamps import decode_time, encode_time
from taco_core.audit import AuditPage, AuditQuery, AuditRecord, id_floor
from taco_core.errors import StorageUnavailable

FORMAT = 1
_FAN_OUT = 16
_DELETE_BATCH = 1000


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


class S3AuditLog(BucketStore):
    """``AuditLog`` as one immutable object per record (see the module docstring).

    Build it with ``open`` (its own client) or on an ``S3Bucket`` that the
    other stores share.
    """

    # Keys per ListObjectsV2 page, and per query; tests lower them.
    page_size = 1000
    scan_budget = 5000

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        self._root = Layout(prefix).audit_root()
        self._each = FanOut(_FAN_OUT)

    def _key(self, record: AuditRecord) -> str:
        return f"{self._root}{record.id}.{_hash(record.unit_id)}.{_hash(record.subject)}.json"

    def _parse_key(self, key: str) -> tuple[str, str, str] | None:
        parts = key[len(self._root) :].split(".")
        if len(parts) != 4 or parts[3] != "json":
            return None
        return parts[0], parts[1], parts[2]

    async def append(self, records: Sequence[AuditRecord]) -> None:
        async def put(record: AuditRecord) -> None:
            body = json.dumps(_doc(record), separators=(",", ":")).encode()
            # Already there means stored by an earlier attempt: records never change.
            with contextlib.suppress(PreconditionFailed):
                await self._s3.put(self._key(record), body, if_absent=True)

        await self._each([functools.partial(put, r) for r in records])

    async def query(self, query: AuditQuery) -> AuditPage:
        bound, inclusive = query.lower_bound()
        start = None
        if bound:
            # A record's key is its ID, ".", hex digits: "<id>.~" sorts after it
            # and before every later ID; a bare since-floor before its records.
            # (No "/" here: SeaweedFS reads a StartAfter ending in "/" as a folder.)
            start = self._root + bound + ("" if inclusive else ".~")
        unit_hash = _hash(query.unit) if query.unit else None
        subject_hash = _hash(query.subject) if query.subject else None
        chosen: list[str] = []
        cursor: str | None = None
        more = False
        scanned = 0
        async for obj in self._s3.list(self._root, page_size=self.page_size, start_after=start):
            parsed = self._parse_key(obj.key)
            if parsed is None:
                continue
            record_id, unit_of, subject_of = parsed
            if record_id < bound or (record_id == bound and not inclusive):
                continue  # a store that bends StartAfter's order must not loop us
            scanned += 1
            if (unit_hash is None or unit_of == unit_hash) and (
                subject_hash is None or subject_of == subject_hash
            ):
                if len(chosen) == query.limit:
                    more = True
                    break
                chosen.append(obj.key)
            cursor = record_id
            if scanned >= self.scan_budget:
                more = True
                break
        found = await self._each([functools.partial(self._read, k) for k in chosen])
        records = tuple(r for r in found if r is not None and query.matches(r))
        return AuditPage(records, cursor if more else None)

    async def _read(self, key: str) -> AuditRecord | None:
        obj = await self._s3.get(key)
        if obj is None:
            return None  # purged since the listing
        try:
            return _record(json.loads(obj.body or b""))
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageUnavailable(f"audit record {key} is damaged: {exc}") from None

    async def purge(self, before: datetime) -> int:
        floor = id_floor(before)
        doomed: list[str] = []
        async for obj in self._s3.list(self._root, page_size=self.page_size):
            parsed = self._parse_key(obj.key)
            if parsed is not None and parsed[0] >= floor:
                break
            doomed.append(obj.key)
        for start in range(0, len(doomed), _DELETE_BATCH):
            batch = doomed[start : start + _DELETE_BATCH]
            await self._each([functools.partial(self._s3.delete, k) for k in batch])
        return sum(1 for key in doomed if self._parse_key(key) is not None)


def _doc(r: AuditRecord) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": r.id,
        "at": encode_time(r.at),
        "action": r.action,
        "subject": r.subject,
        "principal_kind": r.principal_kind,
        "token_id": r.token_id,
        "unit_id": r.unit_id,
        "version": r.version,
        "lock_id": r.lock_id,
        "detail": r.detail,
        "origin": r.origin,
        "surface": r.surface,
        "request_id": r.request_id,
    }


def _record(doc: dict[str, Any]) -> AuditRecord:
    version = doc.get("version")
    return AuditRecord(
        id=str(doc["id"]),
        at=decode_time(doc["at"]),
        action=str(doc["action"]),
        subject=str(doc["subject"]),
        principal_kind=str(doc["principal_kind"]),
        token_id=str(doc.get("token_id", "")),
        unit_id=str(doc.get("unit_id", "")),
        version=int(version) if version is not None else None,
        lock_id=str(doc.get("lock_id", "")),
        detail=str(doc.get("detail", "")),
        origin=str(doc.get("origin", "")),
        surface=str(doc.get("surface", "")),
        request_id=str(doc.get("request_id", "")),
    )
