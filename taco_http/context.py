"""Reaching the composition root's ``Services`` from a request.

The app's lifespan yields them as its state (``{"services": Services}``);
Starlette hands that state to every request's scope, so a handler needs
neither a global nor an untyped ``app.state`` attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from taco_http.wiring import Services

STATE_KEY = "services"


def services_in(scope: Mapping[str, Any]) -> Services:
    """The services of the app serving ``scope`` (its lifespan must have run)."""
    found = scope.get("state", {}).get(STATE_KEY)
    if not isinstance(found, Services):
        raise RuntimeError("the app's lifespan has not run: serve it with lifespan='on'")
    return found


def services_of(request: Request) -> Services:
    """The services of the app serving ``request``."""
    return services_in(request.scope)
