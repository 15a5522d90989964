"""Reaching the composition root's objects from a request."""

from __future__ import annotations

from starlette.requests import Request

from taco_core.service import StateService


def service_of(request: Request) -> StateService:
    service: StateService = request.app.state.service
    return service
