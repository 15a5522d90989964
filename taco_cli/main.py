"""``taco``: the CLI's composition root.

Only here is the environment read, the ``StateControl`` chosen (a server via
``RemoteStateControl``, or ``--embedded`` SQLite via the core's
``StateService``), the event loop started, and errors turned into exit codes,
all in one table (``EXIT_CODES``). A user error or an unreachable server
ends with one clear message and its exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
from attrs import frozen

from taco_adapters.clock import SystemClock
from taco_adapters.remote import RemoteStateControl, ServerUnreachable
from taco_adapters.sqlite import SqliteStateStore
from taco_cli.commands import HANDLERS, Context
from taco_cli.errors import CliError, UsageError
from taco_cli.lockfile import SavedLocks
from taco_cli.output import Output, holder_lines, lock_doc
from taco_cli.parser import DEFAULT_SERVER, LOCK_DIR, SERVER_ENV, build_parser
from taco_core.errors import LockConflict, NotFound, StateRejected, TacoError
from taco_core.ports import StateControl
from taco_core.service import StateService

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_NOT_FOUND = 4

# The one mapping from errors to exit codes; most specific first.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (UsageError, EXIT_USAGE),
    (LockConflict, EXIT_LOCKED),
    (NotFound, EXIT_NOT_FOUND),
    (TacoError, EXIT_ERROR),
    (CliError, EXIT_ERROR),
)


def exit_code_for(exc: Exception) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


@frozen
class Target:
    """Where the commands act: a server URL, or a local SQLite file."""

    server: str
    embedded: Path | None
    timeout: float
    verbose: bool

    @property
    def origin(self) -> str:
        """Names the target in saved lock files and messages."""
        return f"sqlite:{self.embedded.resolve()}" if self.embedded else self.server


def target_of(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    """Resolve ``--server``/``--embedded`` against the environment; raise
    ``UsageError`` for combinations that cannot mean anything."""
    if args.embedded and args.server:
        raise UsageError("--server and --embedded exclude each other: choose one")
    server = (args.server or environ.get(SERVER_ENV) or DEFAULT_SERVER).rstrip("/")
    if not server.startswith(("http://", "https://")):
        source = "--server" if args.server else SERVER_ENV
        raise UsageError(f"{source} must be an http:// or https:// URL, got {server!r}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    embedded = Path(args.embedded) if args.embedded else None
    return Target(server=server, embedded=embedded, timeout=args.timeout, verbose=args.verbose)


def whoami() -> str:
    """``user@host`` for locks and history, as Terraform's ``Who`` reads."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "taco"
    return f"{user}@{socket.gethostname()}"


@contextlib.asynccontextmanager
async def open_control(target: Target, out: Output) -> AsyncIterator[StateControl]:
    """The ``StateControl`` for ``target``, opened inside the running loop."""
    if target.embedded is not None:
        if target.verbose:
            out.trace(f"embedded: SQLite at {target.embedded.resolve()}")
        store = await SqliteStateStore.open(target.embedded)
        try:
            yield StateService(store, SystemClock())
        finally:
            await store.aclose()
        return
    trace = out.trace if target.verbose else None
    async with RemoteStateControl(target.server, timeout=target.timeout, trace=trace) as remote:
        yield remote


async def run(args: argparse.Namespace, target: Target, out: Output) -> None:
    handler = HANDLERS[args.command]
    async with open_control(target, out) as control:
        ctx = Context(
            control=control,
            out=out,
            locks=SavedLocks(Path.cwd() / LOCK_DIR, target.origin),
            who=whoami(),
            stdin=sys.stdin.buffer,
        )
        await handler(ctx, args)


def report(exc: TacoError | CliError, out: Output) -> int:
    """Print the error the way its kind needs; return its exit code."""
    code = exit_code_for(exc)
    details: list[str] = []
    extra: dict[str, Any] = {"kind": type(exc).__name__}
    if isinstance(exc, LockConflict):
        details = ["Lock held by:", *holder_lines(exc.holder)]
        details.append(f"If that lock is stale: taco unit unlock {exc.unit_id} --force")
        extra["lock"] = lock_doc(exc.holder)
    elif isinstance(exc, StateRejected) and exc.quarantined is not None:
        details = [
            f"Inspect it: taco unit pull {exc.unit_id} --version {exc.quarantined}",
            "If it is right after all, push it again with --force.",
        ]
        extra.update(quarantined_version=exc.quarantined, reason=exc.reason)
    elif isinstance(exc, ServerUnreachable):
        details = [
            "Is opentacosvc running there? Choose the server with --server URL or "
            f"{SERVER_ENV}, or work on a local file with --embedded DB."
        ]
    out.error(exc.message, code, details, extra)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(
        json_mode=args.json, stdout=sys.stdout, stderr=sys.stderr, binary=sys.stdout.buffer
    )
    try:
        target = target_of(args, os.environ)
        anyio.run(run, args, target, out, backend="asyncio")
    except (TacoError, CliError) as exc:
        return report(exc, out)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``taco unit pull x | head``); say nothing more.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
