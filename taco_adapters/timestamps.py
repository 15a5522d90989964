"""How the durable stores write a time into a record: ISO 8601 with the UTC
offset and microseconds, read back exactly.

The SQLite columns and the S3 records hold times in this form. It is not the
API's (``taco_adapters.wire.rfc3339``): stored data must keep its format
across releases, whatever the API shows.
"""

from __future__ import annotations

from datetime import datetime


def encode_time(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def encode_optional_time(value: datetime | None) -> str | None:
    return encode_time(value) if value is not None else None


def decode_optional_time(text: str | None) -> datetime | None:
    return decode_time(text) if text else None
