"""``taco``: the CLI's composition root.

Only here is the environment read, the ``StateControl`` chosen (a server via
``RemoteStateControl``, or ``--embedded`` SQLite via the core's
``StateService``), the credentials chosen (``OPENTACO_TOKEN``, else the
saved login for the server), the event loop started, and errors turned into
exit codes, all in one table (``EXIT_CODES``). A user error or an
unreachable server ends with one clear message and its exit code, never a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from attrs import frozen

from taco_adapters.clock import SystemClock
from taco_adapters.remote import (
    DEFAULT_SERVER,
    SERVER_ENV,
    TOKEN_ENV,
    Credentials,
    CredentialsFile,
    CredentialsFileError,
    RemoteAuditTrail,
    RemoteAuth,
    RemoteDependencyGraph,
    RemoteRbac,
    RemoteStateControl,
    SavedCredentials,
    ServerUnreachable,
    SessionExpired,
    StaticToken,
)
from taco_adapters.sqlite import SqliteAuditLog, SqliteStateStore
from taco_adapters.wire import lock_json
from taco_cli.audit_command import AUDIT_HANDLERS, AuditContext
from taco_cli.auth_commands import AUTH_HANDLERS, AuthContext
from taco_cli.commands import HANDLERS, Context
from taco_cli.errors import AuthenticationFailed, CliError, NotUpToDate, UsageError
from taco_cli.lockfile import SavedLocks
from taco_cli.output import Output, holder_lines
from taco_cli.parser import LOCK_DIR, build_parser
from taco_cli.provider_commands import PROVIDER_HANDLERS, ProviderContext
from taco_cli.rbac_commands import RBAC_HANDLERS, RbacContext
from taco_core.audit_service import AuditService
from taco_core.caller import local_caller
from taco_core.errors import LockConflict, NotFound, StateRejected, TacoError, Unauthenticated
from taco_core.event_bus import EventBus
from taco_core.graph_service import GraphService, Outcome
from taco_core.ports import AuditTrail, DependencyGraph, StateControl
from taco_core.service import StateService

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_NOT_FOUND = 4
EXIT_AUTH = 5
EXIT_NOT_UP_TO_DATE = 6

# The one mapping from errors to exit codes; most specific first.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (UsageError, EXIT_USAGE),
    (NotUpToDate, EXIT_NOT_UP_TO_DATE),
    (LockConflict, EXIT_LOCKED),
    (NotFound, EXIT_NOT_FOUND),
    (Unauthenticated, EXIT_AUTH),
    (AuthenticationFailed, EXIT_AUTH),
    (TacoError, EXIT_ERROR),
    (CliError, EXIT_ERROR),
    (CredentialsFileError, EXIT_ERROR),
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
    token: str
    credentials_file: Path
    server_given: bool

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
    return Target(
        server=server,
        embedded=embedded,
        timeout=args.timeout,
        verbose=args.verbose,
        token=environ.get(TOKEN_ENV, "").strip(),
        credentials_file=CredentialsFile.default(environ).path,
        server_given=bool(args.server),
    )


def credentials_of(target: Target, out: Output) -> tuple[Credentials | None, str]:
    """What the commands send to ``target``, and where it came from:
    ``OPENTACO_TOKEN`` (for CI: it wins, and is never saved or renewed),
    else the login saved for exactly this server, else nothing."""
    if target.token:
        return StaticToken(target.token), TOKEN_ENV
    store = CredentialsFile(target.credentials_file)
    saved = SavedCredentials.load(store, target.server)
    if saved is None:
        return None, ""
    exposure = store.exposure()
    if exposure:
        out.warn(exposure)
    return saved, "saved"


def whoami() -> str:
    """``user@host`` for locks and history, as Terraform's ``Who`` reads."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "taco"
    return f"{user}@{socket.gethostname()}"


@frozen
class Connected:
    """The ports the commands work through, for one target."""

    control: StateControl
    graph: DependencyGraph


@contextlib.asynccontextmanager
async def open_control(
    target: Target, out: Output, credentials: Credentials | None = None
) -> AsyncIterator[Connected]:
    """The ports for ``target``, opened inside the running loop.

    Embedded, what the commands change is recorded in the file's audit trail
    as the server would record it (surface ``cli``), and their writes feed
    the dependency graph as they do on a server: they are applied to it
    before the command ends (unless the graph unit is locked; a server's
    reconciliation catches up then)."""
    if target.embedded is not None:
        if target.verbose:
            out.trace(f"embedded: SQLite at {target.embedded.resolve()}")
        clock = SystemClock()
        store = await SqliteStateStore.open(target.embedded)
        try:
            audit_log = await SqliteAuditLog.open(target.embedded)
            try:
                bus = EventBus([AuditService(audit_log, clock)], on_error=_not_taken(out))
                states = StateService(store, clock, events=bus)
                graph = GraphService(states, reconcile_interval=None)
                bus.subscribe(graph)
                caller = local_caller(whoami())
                yield Connected(states.acting_as(caller), graph.acting_as(caller))
                if graph.queued and await graph.flush() is Outcome.BLOCKED:
                    out.warn(
                        "the dependency graph's unit is locked: its statuses will catch up "
                        "when a server next reconciles it"
                    )
            finally:
                await audit_log.aclose()
        finally:
            await store.aclose()
        return
    trace = out.trace if target.verbose else None
    async with (
        remote_control(target, out, credentials) as remote,
        RemoteDependencyGraph(
            target.server, timeout=target.timeout, trace=trace, credentials=credentials
        ) as remote_graph,
    ):
        yield Connected(remote, remote_graph)


def _not_taken(out: Output) -> Callable[[object, object, Exception], None]:
    def warn(sink: object, event: object, exc: Exception) -> None:
        if isinstance(sink, AuditService):
            out.warn(f"the change was made but not recorded in the audit trail: {exc}")
        else:
            out.warn(f"the change was made but not applied to the dependency graph: {exc}")

    return warn


@contextlib.asynccontextmanager
async def open_audit_trail(
    target: Target, out: Output, credentials: Credentials | None = None
) -> AsyncIterator[AuditTrail]:
    """The ``AuditTrail`` of ``target``: the server's, or the local file's."""
    if target.embedded is not None:
        audit_log = await SqliteAuditLog.open(target.embedded)
        try:
            service = AuditService(audit_log, SystemClock())
            yield service.reading_as(local_caller(whoami()))
        finally:
            await audit_log.aclose()
        return
    trace = out.trace if target.verbose else None
    async with RemoteAuditTrail(
        target.server, timeout=target.timeout, trace=trace, credentials=credentials
    ) as remote:
        yield remote


def remote_control(
    target: Target, out: Output, credentials: Credentials | None
) -> RemoteStateControl:
    trace = out.trace if target.verbose else None
    return RemoteStateControl(
        target.server, timeout=target.timeout, trace=trace, credentials=credentials
    )


def remote_auth(target: Target, out: Output, credentials: Credentials | None) -> RemoteAuth:
    trace = out.trace if target.verbose else None
    return RemoteAuth(target.server, timeout=target.timeout, trace=trace, credentials=credentials)


def remote_rbac(target: Target, out: Output, credentials: Credentials | None) -> RemoteRbac:
    trace = out.trace if target.verbose else None
    return RemoteRbac(target.server, timeout=target.timeout, trace=trace, credentials=credentials)


async def run(args: argparse.Namespace, target: Target, out: Output) -> int:
    """Run the command; its exit code when the result is one (``rbac test``)."""
    if args.command in AUTH_HANDLERS:
        await run_auth(args, target, out)
        return EXIT_OK
    if args.command in RBAC_HANDLERS:
        return await run_rbac(args, target, out)
    if args.command in PROVIDER_HANDLERS:
        await run_provider_command(args, target, out)
        return EXIT_OK
    if args.command in AUDIT_HANDLERS:
        await run_audit(args, target, out)
        return EXIT_OK
    handler = HANDLERS[args.command]
    credentials, source = credentials_of(target, out) if target.embedded is None else (None, "")
    with explained_auth_errors(target, source):
        async with open_control(target, out, credentials) as connected:
            ctx = Context(
                control=connected.control,
                graph=connected.graph,
                out=out,
                locks=SavedLocks(Path.cwd() / LOCK_DIR, target.origin),
                who=whoami(),
                stdin=sys.stdin.buffer,
            )
            await handler(ctx, args)
    return EXIT_OK


async def run_audit(args: argparse.Namespace, target: Target, out: Output) -> None:
    credentials, source = credentials_of(target, out) if target.embedded is None else (None, "")
    with explained_auth_errors(target, source):
        async with open_audit_trail(target, out, credentials) as trail:
            ctx = AuditContext(trail=trail, out=out, now=datetime.now(UTC))
            await AUDIT_HANDLERS[args.command](ctx, args)


async def run_auth(args: argparse.Namespace, target: Target, out: Output) -> None:
    """The auth commands: they need a server, and choose their own credentials."""
    if target.embedded is not None:
        name = args.command.replace(".", " ")
        raise UsageError(
            f"taco {name} needs a server: --embedded works on a local file, which has no login"
        )
    credentials, source = credentials_of(target, out)
    ctx = AuthContext(
        server=target.server,
        out=out,
        store=CredentialsFile(target.credentials_file),
        credentials=credentials,
        source=source,
        connect=lambda chosen: remote_auth(target, out, chosen),
        stdin=sys.stdin.buffer,
        environ=os.environ,
        timeout=target.timeout,
    )
    with explained_auth_errors(target, source):
        await AUTH_HANDLERS[args.command](ctx, args)


async def run_provider_command(args: argparse.Namespace, target: Target, out: Output) -> None:
    """The provider commands: local files, and (init) the server Terraform will use."""
    embedded = target.embedded is not None
    credentials, source = (None, "") if embedded else credentials_of(target, out)
    ctx = ProviderContext(
        server=None if embedded else target.server,
        out=out,
        connect=lambda: remote_control(target, out, credentials),
    )
    with explained_auth_errors(target, source):
        await PROVIDER_HANDLERS[args.command](ctx, args)


async def run_rbac(args: argparse.Namespace, target: Target, out: Output) -> int:
    """The RBAC commands: they need a server, whose policy they manage."""
    if target.embedded is not None:
        name = args.command.replace(".", " ")
        raise UsageError(
            f"taco {name} needs a server: --embedded works on a local file, which has no "
            "authorization (whoever can open it can do anything)"
        )
    credentials, source = credentials_of(target, out)
    ctx = RbacContext(
        server=target.server,
        out=out,
        connect=lambda: remote_rbac(target, out, credentials),
    )
    with explained_auth_errors(target, source):
        code = await RBAC_HANDLERS[args.command](ctx, args)
    return EXIT_OK if code is None else code


@contextlib.contextmanager
def explained_auth_errors(target: Target, source: str) -> Iterator[None]:
    """Turn the server's 401 into what the user can do about it, which
    depends on the token that was sent (none, ``OPENTACO_TOKEN``, saved)."""
    login = "taco login" + (f" --server {target.server}" if target.server_given else "")
    try:
        yield
    except SessionExpired as exc:
        raise AuthenticationFailed(exc.message, (f"Log in again: {login}",)) from None
    except Unauthenticated as exc:
        if source == TOKEN_ENV:
            raise AuthenticationFailed(
                f"the server at {target.server} refused the token in {TOKEN_ENV}: {exc.message}",
                (f"Is it revoked or expired? Without {TOKEN_ENV}, taco sends the saved login.",),
            ) from None
        if source:
            raise AuthenticationFailed(
                f"the server at {target.server} refused the saved token: {exc.message}",
                (f"Log in again: {login}",),
            ) from None
        raise AuthenticationFailed(
            f"not logged in to {target.server}, which requires authentication",
            (
                "Log in with one of:",
                f"  {login}            (through your identity provider, in a browser)",
                f"  {login} --token -  (an API token, read from standard input)",
                f"or, in CI, set {TOKEN_ENV} to an API token.",
            ),
        ) from None


def report(exc: TacoError | CliError | CredentialsFileError, out: Output) -> int:
    """Print the error the way its kind needs; return its exit code."""
    code = exit_code_for(exc)
    details: list[str] = []
    extra: dict[str, Any] = {"kind": type(exc).__name__}
    if isinstance(exc, AuthenticationFailed):
        details = list(exc.hints)
    elif isinstance(exc, LockConflict):
        details = ["Lock held by:", *holder_lines(exc.holder)]
        details.append(f"If that lock is stale: taco unit unlock {exc.unit_id} --force")
        extra["lock"] = lock_json(exc.holder)
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
        json_mode=args.json,
        stdout=sys.stdout,
        stderr=sys.stderr,
        binary=sys.stdout.buffer,
        colour=sys.stdout.isatty() and "NO_COLOR" not in os.environ,
    )
    try:
        target = target_of(args, os.environ)
        code = anyio.run(run, args, target, out, backend="asyncio")
    except (TacoError, CliError, CredentialsFileError) as exc:
        return report(exc, out)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``taco unit pull x | head``); say nothing more.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
