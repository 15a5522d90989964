"""Errors the CLI itself raises (the core's ``TacoError`` covers the rest).

``main.EXIT_CODES`` maps both families to exit codes in one table.
"""

from __future__ import annotations


class CliError(Exception):
    """A problem on the user's side of the CLI, outside the core's rules."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CliError):
    """The command cannot run as given (for example: no lock ID to unlock with)."""


class LocalFileError(CliError):
    """A local file could not be read or written; the message names it."""


class AuthenticationFailed(CliError):
    """Not logged in, a token refused, a session that cannot be renewed, or a
    login that did not complete. ``hints`` say how to get in."""

    def __init__(self, message: str, hints: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.hints = hints


class NotUpToDate(CliError):
    """``unit status --exit-code`` listed units that are red or yellow."""
