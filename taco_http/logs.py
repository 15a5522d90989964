"""The service's logging: plain text for a terminal (the default), or one
JSON object per line for log collectors (``OPENTACO_LOG_FORMAT=json``).

Everything goes through the standard library's root logger, uvicorn's own
loggers included (the service runs uvicorn without its logging config), and
Python warnings too, so the format holds for every line the service writes.
Each line names the request it was written for (``request_id``, from
``taco_http.request_id.current_request_id``). A JSON line has ``time``
(RFC 3339, UTC), ``level``, ``logger``, ``message``, ``request_id`` when
there is one, ``exception`` (the traceback, as one string) when there is
one, and whatever fields the caller passed as ``extra`` (the access log's
``http`` object).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from taco_http.request_id import current_request_id

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
    "taskName",
}


def _time(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the ID of the request being served (or "")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = current_request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request-id]: message`` (the ID only when there is one)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "")
        record.request_tag = f" [{request_id}]" if request_id else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _time(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            doc["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "request_tag":
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def json_line(level: str, logger: str, message: str, **fields: Any) -> str:
    """A line in the JSON log's shape, for what is written outside logging
    (the bootstrap token's announcement)."""
    doc = {
        "time": _time(datetime.now(UTC)),
        "level": level,
        "logger": logger,
        "message": message,
        **fields,
    }
    return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stderr) in ``fmt`` ("text" or "json")."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    # botocore narrates credential lookups at INFO; keep start-up output to our own lines.
    for noisy in ("botocore", "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
