"""Request IDs: one per request, taken from ``X-Request-ID`` or made up,
echoed on the answer, and carried everywhere the request goes.

A client (or a proxy in front of the service) may send ``X-Request-ID``;
the value is kept if it is 1 to 128 characters of letters, digits and
``._:-+=@/`` (anything else could forge log lines or blow up log storage),
and replaced by a fresh one otherwise. The ID is put

- in the ASGI scope under ``taco_http.auth.REQUEST_ID_KEY``, where
  ``caller_of`` reads it into the core's ``Caller`` (history, audit records);
- in ``current_request_id``, a context variable the log formatter reads, so
  every log line written while serving the request names it;
- on the answer's ``X-Request-ID`` header, every answer, errors included.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taco_http.auth import REQUEST_ID_KEY

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
MAX_LENGTH = 128
_ACCEPTED = re.compile(rf"[A-Za-z0-9._:+=@/-]{{1,{MAX_LENGTH}}}")

current_request_id: ContextVar[str] = ContextVar("opentaco_request_id", default="")


def request_id_for(sent: str | None) -> str:
    """``sent`` when it is an acceptable ID, else a fresh one."""
    if sent is not None and _ACCEPTED.fullmatch(sent):
        return sent
    return secrets.token_hex(16)


class RequestIdMiddleware:
    """Give every HTTP request its ID (see the module docstring).

    It must wrap everything else, Starlette's own error middleware included,
    so a 500 carries the ID too (``taco_http.app.TacoApp`` puts it there).
    It runs for every request, so it reads and writes the raw ASGI header
    lists rather than building header objects.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = None
        for key, value in scope["headers"]:
            if key == _HEADER_KEY:
                sent = value.decode("latin-1")
                break
        request_id = request_id_for(sent)
        scope[REQUEST_ID_KEY] = request_id
        # Set for the rest of this request's task, on purpose never reset: the
        # server logs an unhandled error after the app has returned, and that
        # line must name the request too. Each request runs in its own task,
        # whose context ends with it.
        current_request_id.set(request_id)
        echoed = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # No handler sets this header: appending cannot duplicate it.
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        await self.app(scope, receive, send_with_id)
