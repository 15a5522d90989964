"""Errors of the provider itself (the core's ``TacoError`` covers the service's)."""

from __future__ import annotations


class ConfigError(Exception):
    """The provider block, its environment or the saved login cannot be used;
    the message says what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
