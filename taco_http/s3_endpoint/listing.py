"""ListObjectsV2 and ListObjects (v1): the states a bucket holds, as keys.

Terraform lists ``prefix=env:/`` to find its workspaces (1.15.5 with
``list-type=2``, 1.0.3 with v1), and S3 tools list to browse. The keys are
computed from the units the caller may see (``StateService.list_units``
applies RBAC) that have a state, through the bucket's mapping, then cut as S3
does: by prefix, after the start key, grouped at the delimiter into common
prefixes, and in pages of ``max-keys``. Lock objects are not listed (they
are the units' locks, not stored objects); ``ETag`` is left out of listings,
as it would cost a read of every state.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import quote

from attrs import frozen
from starlette.responses import Response

from taco_http.s3_endpoint.call import S3Call
from taco_http.s3_endpoint.xml import Child, element, xml_response
from taco_http.s3api.errors import InvalidArgument

MAX_KEYS = 1000


@frozen
class _Entry:
    key: str
    size: int
    modified: datetime


def _max_keys(call: S3Call) -> int:
    raw = call.query.get("max-keys", str(MAX_KEYS))
    if not raw.isdigit() or not raw.isascii():
        raise InvalidArgument("max-keys must be a non-negative integer.", ArgumentName="max-keys")
    return min(int(raw), MAX_KEYS)


_Encode = Callable[[str], str]


def _encoder(call: S3Call) -> tuple[list[Child], _Encode]:
    encoding = call.query.get("encoding-type")
    if encoding is None:
        return [], _plain
    if encoding != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request", ArgumentName="encoding-type"
        )
    return [("EncodingType", "url")], _url


def _plain(value: str) -> str:
    return value


def _url(value: str) -> str:
    return quote(value, safe="/")


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            "The continuation token provided is incorrect", ArgumentName="continuation-token"
        ) from None


async def _entries(call: S3Call, bucket: str, prefix: str) -> list[_Entry]:
    buckets = call.buckets
    units = await call.states.list_units(call.caller, buckets.unit_prefix(bucket, prefix))
    entries = []
    for unit in units:
        if unit.head is None:
            continue
        key = buckets.key_of(bucket, unit.id)
        if key is not None and key.startswith(prefix):
            entries.append(_Entry(key, unit.size, unit.updated))
    entries.sort(key=lambda e: e.key.encode())
    return entries


def _page(
    entries: list[_Entry], prefix: str, delimiter: str, after: str, max_keys: int
) -> tuple[list[_Entry], list[str], bool, str]:
    """Keys and common prefixes after ``after``, at most ``max_keys`` of
    them together; whether more follow, and the last one returned."""
    keys: list[_Entry] = []
    prefixes: list[str] = []
    last = ""
    if max_keys == 0:
        return keys, prefixes, False, last
    for item in _grouped(entries, prefix, delimiter, after):
        if len(keys) + len(prefixes) == max_keys:
            return keys, prefixes, True, last
        if isinstance(item, str):
            prefixes.append(item)
            last = item
        else:
            keys.append(item)
            last = item.key
    return keys, prefixes, False, last


def _grouped(
    entries: list[_Entry], prefix: str, delimiter: str, after: str
) -> Iterator[_Entry | str]:
    seen = ""
    for entry in entries:
        if after and entry.key.encode() <= after.encode():
            continue
        if delimiter and after.endswith(delimiter) and entry.key.startswith(after):
            # Continuing after a common prefix skips everything under it.
            continue
        rest = entry.key[len(prefix) :]
        cut = rest.find(delimiter) if delimiter else -1
        if cut >= 0:
            common = prefix + rest[: cut + len(delimiter)]
            if common != seen:
                seen = common
                yield common
            continue
        yield entry


def _contents(entries: list[_Entry], encode: _Encode) -> list[Child]:
    return [
        (
            "Contents",
            [
                ("Key", encode(e.key)),
                ("LastModified", _timestamp(e.modified)),
                ("Size", str(e.size)),
                ("StorageClass", "STANDARD"),
            ],
        )
        for e in entries
    ]


def _timestamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


async def list_objects(call: S3Call, bucket: str) -> Response:
    """``GET /<bucket>``: ListObjectsV2 with ``list-type=2``, else v1."""
    version = call.query.get("list-type")
    if version not in (None, "2"):
        raise InvalidArgument("list-type must be 2 when given.", ArgumentName="list-type")
    prefix = call.query.get("prefix", "")
    delimiter = call.query.get("delimiter", "")
    max_keys = _max_keys(call)
    encoding, encode = _encoder(call)
    entries = await _entries(call, bucket, prefix)
    if version == "2":
        token = call.query.get("continuation-token")
        start_after = call.query.get("start-after", "")
        after = _untoken(token) if token is not None else start_after
        keys, prefixes, truncated, last = _page(entries, prefix, delimiter, after, max_keys)
        children: list[Child] = [
            ("Name", bucket),
            ("Prefix", encode(prefix)),
            ("KeyCount", str(len(keys) + len(prefixes))),
            ("MaxKeys", str(max_keys)),
        ]
        if delimiter:
            children.append(("Delimiter", encode(delimiter)))
        children += [*encoding, ("IsTruncated", "true" if truncated else "false")]
        if token is not None:
            children.append(("ContinuationToken", token))
        if truncated:
            children.append(("NextContinuationToken", _token(last)))
        if start_after:
            children.append(("StartAfter", encode(start_after)))
    else:
        marker = call.query.get("marker", "")
        keys, prefixes, truncated, last = _page(entries, prefix, delimiter, marker, max_keys)
        children = [
            ("Name", bucket),
            ("Prefix", encode(prefix)),
            ("Marker", encode(marker)),
            ("MaxKeys", str(max_keys)),
        ]
        if delimiter:
            children.append(("Delimiter", encode(delimiter)))
        children += [*encoding, ("IsTruncated", "true" if truncated else "false")]
        if truncated:
            children.append(("NextMarker", encode(last)))
    children += _contents(keys, encode)
    children += [("CommonPrefixes", [("Prefix", encode(p))]) for p in prefixes]
    return xml_response(element("ListBucketResult", children))
