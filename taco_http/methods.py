"""Choosing a handler by HTTP method, for routes that serve several.

Starlette adds HEAD to every route that has GET, so a handler that serves
several methods and takes "anything else" for one of them turns HEAD into
that one: the backend once soft-deleted a unit on HEAD. Such routes look
their handler up here instead: a table from method to handler, HEAD served
by the GET handler (the server sends the headers without the body), and any
other method refused with 405 and an ``Allow`` header naming what the table
holds. Nothing falls through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response
from starlette.types import Receive, Scope, Send

H = TypeVar("H")


def allowed(methods: Iterable[str]) -> str:
    """The ``Allow`` header for a table of ``methods`` (HEAD wherever GET is)."""
    names = set(methods)
    if "GET" in names:
        names.add("HEAD")
    return ", ".join(sorted(names))


def pick(method: str, handlers: Mapping[str, H]) -> H:
    """The handler for ``method``; 405 naming the allowed methods otherwise."""
    handler = handlers.get(method)
    if handler is None and method == "HEAD":
        handler = handlers.get("GET")
    if handler is None:
        allow = allowed(handlers)
        raise HTTPException(
            405, f"method {method} is not allowed here (allowed: {allow})", {"Allow": allow}
        )
    return handler


def by_method(
    handlers: Mapping[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    """One endpoint serving each method of ``handlers`` (see ``pick``), so a
    path has one route and its 405 names every method the path serves."""

    async def endpoint(request: Request) -> Response:
        return await pick(request.method, handlers)(request)

    return endpoint


class AnyMethod:
    """An endpoint Starlette routes every method to, for a handler that picks
    its own (a plain function endpoint gets only the methods its route lists,
    and Starlette's 405 would then name those instead of the handler's)."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self._app = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
