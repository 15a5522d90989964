"""Fixtures for the identity adapters' tests (the stand-in OIDC provider is
``tests/conftest.py``'s)."""

from __future__ import annotations

from tests.auth_fixtures import clock, codec, store

__all__ = ["clock", "codec", "store"]
