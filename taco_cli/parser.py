"""The ``taco`` command line, built in one place (also read by argparse-manpage).

Only argparse construction lives here: no I/O, no environment, no network, so
the man page generator and the tests can build the parser freely. Each
command stores its name in ``args.command`` (``"unit.lock"``); ``main`` maps
names to handlers.

Global options are accepted before the command (``taco --json unit ls``) and
after it (``taco unit ls --json``), because scripts and people write both.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from taco_adapters.remote.environment import DEFAULT_SERVER, SERVER_ENV, TOKEN_ENV
from taco_cli import __version__
from taco_cli.provider_parser import add_provider_commands
from taco_core.errors import InvalidInput
from taco_core.rbac import Rule, parse_rule
from taco_core.unit_id import UnitId, parse_unit_id, parse_user_unit_id

ISSUER_ENV = "OPENTACO_AUTH_ISSUER"
CLIENT_ID_ENV = "OPENTACO_AUTH_CLIENT_ID"
LOCK_DIR = ".taco"
CREDENTIALS_PATH = "~/.config/opentaco/credentials.json"
DEFAULT_CALLBACK_PORT = 8585
DEFAULT_LOGIN_TIMEOUT = 300.0

EXAMPLES: tuple[tuple[str, str], ...] = (
    ("taco unit create myapp/prod --label team=payments", "register a unit"),
    ("taco unit ls myapp/", "list the units under myapp/"),
    ("taco unit info myapp/prod", "size, last update and lock holder"),
    ("taco unit push myapp/prod terraform.tfstate", "upload a state file"),
    ("taco unit pull myapp/prod > backup.tfstate", "download the current state"),
    ("taco unit acquire myapp/prod state.json", "lock, then download to edit it by hand"),
    ("taco unit release myapp/prod state.json", "upload the edited state, then unlock"),
    ("taco unit versions myapp/prod", "the unit's history"),
    ("taco unit restore myapp/prod 3", "make version 3 current again"),
    ("taco unit diff myapp/prod --from 2 --to 3", "what changed between versions 2 and 3"),
    ("taco unit status --prefix myapp/ --exit-code", "fail a CI job when a unit needs re-applying"),
    ("taco dep ls --unit myapp/prod", "the dependencies from and to a unit"),
    ("taco --json unit ls | jq -r '.units[].id'", "machine-readable output"),
    ("taco --embedded ./taco.db unit ls", "work on a local SQLite file, no server"),
    ("taco login", "log in through your OIDC provider in a browser"),
    ("taco login --token - < admin-token", "log in with an API token read from a file"),
    ("taco token create --name ci --expires 90d", "an API token for a CI job (shown once)"),
    (
        "taco token create --name ci --subject ci-dev",
        "a token for the service subject ci-dev (admins)",
    ),
    ("taco rbac user assign ci-dev ci-dev", "give subject ci-dev the role ci-dev"),
    ("taco rbac test ci-dev unit.write prod/app", "may ci-dev write prod/app? (exit 0 or 4)"),
    (
        "taco creds --json --server URL",
        'S3 credentials for Terraform\'s backend "s3" (AWS credential_process)',
    ),
    ("OPENTACO_TOKEN=otc_... taco unit ls", "use an API token without saving it (CI)"),
    ("taco provider install", "make the Terraform provider opentaco available to Terraform"),
    ("taco provider init platform", "a Terraform configuration for units and dependencies"),
    ("taco audit --unit myapp/prod --since 7d", "who did what to a unit this week"),
)

EXIT_STATUS: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (1, "error: invalid input, refused write, server unreachable or failing"),
    (2, "usage error: bad arguments, or no saved lock ID where one is needed"),
    (3, "lock conflict: the unit is locked by someone else (the holder is printed)"),
    (
        4,
        "not found: the unit, version, state, API token, role or permission does not exist; "
        "for rbac test: denied",
    ),
    (
        5,
        "authentication: not logged in, token refused, session expired (run taco login), "
        "or a login that did not complete",
    ),
    (
        6,
        "not up to date: 'unit status --exit-code' listed a unit that needs, or might need, "
        "a re-apply",
    ),
)

ENVIRONMENT: tuple[tuple[str, str], ...] = (
    (SERVER_ENV, f"server URL when --server is not given (default {DEFAULT_SERVER})"),
    (
        TOKEN_ENV,
        "an API token (or access token) to send instead of the saved credentials; "
        "for CI jobs, never renewed or saved",
    ),
    (ISSUER_ENV, "OIDC issuer for taco login when --issuer is not given (default: the server's)"),
    (
        CLIENT_ID_ENV,
        "OIDC client ID for taco login when --client-id is not given (default: the server's)",
    ),
    ("XDG_CONFIG_HOME", "where the credentials file lives, when set (default ~/.config)"),
)

FILES: tuple[tuple[str, str], ...] = (
    (
        f"{LOCK_DIR}/locks/",
        "lock IDs obtained by lock and acquire, one 0600 file per server and unit, "
        "under the working directory; used by push, unlock, release and restore, "
        "removed by unlock and release",
    ),
    (
        CREDENTIALS_PATH,
        "tokens saved by taco login, per server base URL, mode 0600 (in "
        "$XDG_CONFIG_HOME/opentaco when that is set); removed by taco logout",
    ),
)


def _epilog() -> str:
    width = max(len(command) for command, _ in EXAMPLES)
    lines = ["examples:"]
    lines += [f"  {command:<{width}}  {what}" for command, what in EXAMPLES]
    lines += ["", "exit status:"]
    lines += [f"  {code}  {meaning}" for code, meaning in EXIT_STATUS]
    return "\n".join(lines)


def _id_type(parse: Callable[[str], UnitId]) -> Callable[[str], UnitId]:
    """Validate unit IDs while parsing, so a bad ID is a usage error naming the rule."""

    def convert(raw: str) -> UnitId:
        try:
            return parse(raw)
        except InvalidInput as exc:  # InvalidUnitId, ReservedUnitId
            raise argparse.ArgumentTypeError(exc.message) from None

    return convert


unit_id_arg = _id_type(parse_unit_id)
new_unit_id_arg = _id_type(parse_user_unit_id)


def label_arg(raw: str) -> tuple[str, str]:
    """``key=value`` for ``--label``."""
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"label {raw!r} must look like key=value")
    return key, value


def version_number_arg(raw: str) -> int:
    # 0 is valid: a state adopted from a bucket written by plain Terraform is version 0.
    # ASCII digits only ('²' passes isdigit()), and no more than a store can number.
    digits = raw.lstrip("0") or "0"
    if not (raw.isascii() and raw.isdigit()) or len(digits) > 19 or int(digits) >= 2**63:
        raise argparse.ArgumentTypeError(f"version must be a whole number, got {raw[:40]!r}")
    return int(digits)


def port_arg(raw: str) -> int:
    """A TCP port for ``--callback-port``, checked while parsing (a usage error)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 5 or not 1 <= int(raw) <= 65535:
        raise argparse.ArgumentTypeError(f"port must be a number from 1 to 65535, got {raw!r}")
    return int(raw)


def rule_arg(raw: str) -> Rule:
    """``EFFECT:ACTION[,ACTION...]:PATTERN[,PATTERN...]`` for ``--rule``,
    checked while parsing (a usage error naming what is wrong)."""
    try:
        return parse_rule(raw)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def seconds_arg(raw: str) -> float:
    """A positive number of seconds (``--login-timeout``)."""
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {raw!r}")
    return value


_AGO = re.compile(r"(\d+)\s*([smhdw]?)")
_AGO_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_arg(raw: str) -> datetime | timedelta:
    """``--since``: an RFC 3339 time (UTC when it names no zone), or how long
    ago (``30m``, ``12h``, ``7d``, ``2w``), resolved against the clock later."""
    text = raw.strip()
    ago = _AGO.fullmatch(text)
    if ago and text.isascii():
        return timedelta(seconds=int(ago.group(1)) * _AGO_UNITS[ago.group(2)])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a time such as 2026-05-01T12:00:00Z or a duration such as 7d, got {raw!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def count_arg(raw: str) -> int:
    """A positive whole number (``--limit``)."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {raw!r}")
    return int(raw)


GLOBALS_NOTE = (
    "Global options (--server, --embedded, --json, -v, --timeout) may also "
    "follow the command: taco unit ls --json."
)


def _add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The global options, shown once on the top-level parser.

    Commands accept them too, hidden from their help (it would repeat them
    for every command) and with SUPPRESS defaults, so an option given before
    the command is not reset by the command's parser.
    """

    def spec(value: object, text: str) -> dict[str, Any]:
        if top:
            return {"default": value, "help": text}
        return {"default": argparse.SUPPRESS, "help": argparse.SUPPRESS}

    group = parser.add_argument_group("global options") if top else parser
    group.add_argument(
        "--server",
        metavar="URL",
        **spec(None, f"OpenTaco server (env {SERVER_ENV}, default {DEFAULT_SERVER})"),
    )
    group.add_argument(
        "--embedded",
        metavar="DB",
        **spec(None, "work on this SQLite file directly, with no server (created if missing)"),
    )
    group.add_argument(
        "--json",
        action="store_true",
        **spec(False, "machine-readable JSON output (errors as JSON on stderr)"),
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        **spec(False, "print each request and its response status on stderr"),
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        **spec(30.0, "give up on a server call after this many seconds (default 30)"),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taco",
        description="Manage OpenTaco units (Terraform states): create, list, inspect, "
        "lock, download, upload and restore them, on a server or on a local SQLite file. "
        "Global options may come before or after the command.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"taco (OpenTaco) {__version__}")
    _add_globals(parser, top=True)
    globals_ = argparse.ArgumentParser(add_help=False)
    _add_globals(globals_, top=False)
    commands = parser.add_subparsers(title="commands", dest="group", metavar="COMMAND")
    commands.required = True
    unit = commands.add_parser(
        "unit",
        help="manage units",
        description="Manage units: one Terraform state each, with its lock and history.",
    )
    _add_unit_commands(unit, globals_)
    _add_dep_commands(commands, globals_)
    _add_auth_commands(commands, globals_)
    _add_audit_command(commands, globals_)
    _add_rbac_commands(commands, globals_)
    add_provider_commands(commands, globals_, GLOBALS_NOTE, unit_id_arg)
    return parser


def _add_audit_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    globals_: argparse.ArgumentParser,
) -> None:
    p = commands.add_parser(
        "audit",
        help="read the audit trail",
        description="Show the audit trail, oldest first: who wrote, locked, unlocked, "
        "force-unlocked, deleted, undeleted or restored which unit, refused writes and "
        "denied access, API tokens and RBAC changes, with when, from where and the request "
        "ID. On a server this needs the audit.read permission (rbac.manage implies it); "
        "with --embedded it reads the local file's trail (what taco --embedded itself did).",
        epilog=GLOBALS_NOTE,
        parents=[globals_],
    )
    p.set_defaults(command="audit")
    p.add_argument("--unit", metavar="ID", type=unit_id_arg, help="only records about this unit")
    p.add_argument("--subject", metavar="SUBJECT", help="only records of this subject")
    p.add_argument(
        "--since",
        metavar="WHEN",
        type=since_arg,
        help="only records from this time on: RFC 3339 (UTC when no zone is given), or how "
        "long ago, e.g. 30m, 12h, 7d, 2w",
    )
    p.add_argument(
        "--limit",
        metavar="N",
        type=count_arg,
        default=100,
        help="show at most N records (default 100); the cursor to go on from is printed",
    )
    p.add_argument(
        "--after", metavar="CURSOR", help="go on after this cursor (printed by a previous run)"
    )


def _add_unit_commands(unit: argparse.ArgumentParser, globals_: argparse.ArgumentParser) -> None:
    sub = unit.add_subparsers(title="unit commands", dest="unit_command", metavar="COMMAND")
    sub.required = True

    def command(
        name: str, summary: str, description: str, aliases: tuple[str, ...] = ()
    ) -> argparse.ArgumentParser:
        also = f" Aliases: {', '.join(aliases)}." if aliases else ""
        p = sub.add_parser(
            name,
            aliases=list(aliases),
            help=summary,
            description=description + also,
            epilog=GLOBALS_NOTE,
            parents=[globals_],
        )
        p.set_defaults(command=f"unit.{name}")
        return p

    def unit_id(p: argparse.ArgumentParser) -> None:
        p.add_argument("unit_id", metavar="ID", type=unit_id_arg, help="unit ID, e.g. myapp/prod")

    p = command("create", "create a unit", "Create an empty unit. Prints 'Unit created: ID'.")
    p.add_argument("unit_id", metavar="ID", type=new_unit_id_arg, help="unit ID, e.g. myapp/prod")
    p.add_argument(
        "--label",
        metavar="KEY=VALUE",
        type=label_arg,
        action="append",
        default=[],
        help="attach a label (repeatable)",
    )

    p = command(
        "ls",
        "list units",
        "List units as a table: ID, size, last update (UTC), locked.",
        aliases=("list",),
    )
    p.add_argument(
        "prefix", metavar="PREFIX", nargs="?", default="", help="only IDs starting with this text"
    )
    p.add_argument(
        "--deleted", action="store_true", help="list deleted units that can still be undeleted"
    )

    p = command(
        "info",
        "show a unit",
        "Show a unit: size, created, updated, version, labels and the lock holder "
        "(who, lock ID, since).",
        aliases=("show", "describe"),
    )
    unit_id(p)

    p = command(
        "rm",
        "delete a unit",
        "Delete a unit. The server keeps it, with its history, for a grace period "
        "during which 'taco unit undelete' brings it back. A locked unit cannot be deleted.",
        aliases=("delete", "remove"),
    )
    unit_id(p)

    p = command(
        "pull",
        "download a state",
        "Download the unit's current state (or an older version) to FILE, or to "
        "standard output when FILE is omitted or '-'.",
    )
    unit_id(p)
    p.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="where to write (default stdout)"
    )
    p.add_argument(
        "--version", type=version_number_arg, metavar="N", help="download version N instead"
    )

    p = command(
        "push",
        "upload a state",
        "Upload FILE ('-' for standard input) as the unit's new state. When this "
        "directory holds a lock ID for the unit (from 'taco unit lock' or 'acquire'), "
        "it is sent with the upload. The server refuses a state of another lineage "
        "or an older serial, and keeps it as a quarantined version.",
    )
    unit_id(p)
    p.add_argument("file", metavar="FILE", help="state file, or '-' for standard input")
    p.add_argument(
        "--force",
        action="store_true",
        help="accept a different lineage or an older serial (the server's clobber guard)",
    )

    p = command(
        "lock",
        "lock a unit",
        "Lock the unit and save the lock ID under .taco/ for unlock, push, release "
        "and restore. Locking again from the same directory is a no-op.",
    )
    unit_id(p)

    p = command(
        "unlock",
        "unlock a unit",
        "Unlock the unit with LOCK_ID, or with the lock ID saved by 'taco unit lock'. "
        "--force unlocks whoever holds the lock.",
    )
    unit_id(p)
    p.add_argument("lock_id", nargs="?", metavar="LOCK_ID", help="lock ID (default: the saved one)")
    p.add_argument("--force", action="store_true", help="unlock whoever holds the lock")

    p = command(
        "acquire",
        "lock and download",
        "Lock the unit, then download its state to FILE (or standard output). If the "
        "download fails, the lock is released again.",
    )
    unit_id(p)
    p.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="where to write (default stdout)"
    )

    p = command(
        "release",
        "upload and unlock",
        "Upload FILE with the saved lock ID, then unlock. If the upload fails the "
        "lock is kept, so nobody else writes before you retry.",
    )
    unit_id(p)
    p.add_argument("file", metavar="FILE", help="state file, or '-' for standard input")

    p = command(
        "versions",
        "list a unit's history",
        "List the unit's versions, newest first: number, created (UTC), size, serial, "
        "how it was written. '*' marks the current one, 'Q' a quarantined one.",
    )
    unit_id(p)

    p = command(
        "restore",
        "make an old version current",
        "Make version N current again, as a new version with a higher serial so "
        "Terraform accepts it. Uses the saved lock ID when the unit is locked.",
    )
    unit_id(p)
    p.add_argument("number", metavar="N", type=version_number_arg, help="version number")

    p = command(
        "diff",
        "show what changed between two versions",
        "Show resources added, removed and changed (by address, with the names of "
        "changed attributes) and outputs added, removed and changed between two "
        "versions. Sensitive output values are masked. Default: the current version "
        "against the one before it.",
    )
    unit_id(p)
    p.add_argument(
        "--from",
        dest="from_version",
        metavar="N",
        type=version_number_arg,
        help="older version (default: the one before --to)",
    )
    p.add_argument(
        "--to",
        dest="to_version",
        metavar="M",
        type=version_number_arg,
        help="newer version (default: the current version)",
    )

    p = command(
        "undelete",
        "bring back a deleted unit",
        "Bring back a deleted unit, with its history, during the grace period.",
    )
    unit_id(p)

    p = command(
        "status",
        "show what needs re-applying",
        "Show whether units are up to date with the outputs they consume, from the "
        "dependency graph (the opentaco_dependency resources in the state of "
        "__opentaco_system): 'up to date' (green), 'needs re-apply' (red: an output it "
        "consumes changed since it was last applied) or 'might need re-apply' (yellow: "
        "downstream of a red unit). With ID, that unit (any unit: one no dependency names "
        "is up to date); without, every unit the graph names, or those under --prefix. "
        "FIRST OFFENDER is, for a red unit, the output that changed (UNIT:OUTPUT) and, for "
        "a yellow one, the red unit upstream to re-apply first. Colours only on a terminal.",
    )
    p.add_argument(
        "unit_id", metavar="ID", nargs="?", type=unit_id_arg, help="unit ID, e.g. myapp/prod"
    )
    p.add_argument(
        "--prefix",
        metavar="PREFIX",
        default="",
        help="only units whose ID starts with this text ('/' means every unit)",
    )
    p.add_argument(
        "--exit-code",
        action="store_true",
        help="exit with status 6 when a unit listed is red or yellow (for CI gates)",
    )


def _add_dep_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    globals_: argparse.ArgumentParser,
) -> None:
    dep = commands.add_parser(
        "dep",
        help="list dependencies between units",
        description="The dependency graph: which unit's output feeds which unit. Edges "
        "are opentaco_dependency resources in the state of __opentaco_system, declared "
        "with Terraform; the service keeps their status.",
    )
    sub = dep.add_subparsers(title="dep commands", dest="dep_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser(
        "ls",
        aliases=["list"],
        help="list dependencies",
        description="List the dependencies (edges) with their status: ok (the consumer "
        "applied the output's current value), pending (the output changed since) or "
        "unknown (the producer has no such output). CHANGED is when the output last "
        "changed. Aliases: list.",
        epilog=GLOBALS_NOTE,
        parents=[globals_],
    )
    p.set_defaults(command="dep.ls")
    p.add_argument(
        "--unit",
        dest="unit_id",
        metavar="ID",
        type=unit_id_arg,
        help="only the dependencies from or to this unit",
    )


def _add_auth_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    globals_: argparse.ArgumentParser,
) -> None:
    def command(
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        key: str,
        summary: str,
        description: str,
        aliases: tuple[str, ...] = (),
    ) -> argparse.ArgumentParser:
        also = f" Aliases: {', '.join(aliases)}." if aliases else ""
        p = sub.add_parser(
            name,
            aliases=list(aliases),
            help=summary,
            description=description + also,
            epilog=GLOBALS_NOTE,
            parents=[globals_],
        )
        p.set_defaults(command=key)
        return p

    p = command(
        commands,
        "login",
        "login",
        "log in to the server",
        "Log in to the server (--server) through its OIDC provider: the provider's login "
        "page opens in a browser (its URL is printed too), the answer comes back to a "
        "local callback (http://127.0.0.1:PORT/callback), and the server's access and "
        f"refresh tokens are saved in {CREDENTIALS_PATH} (mode 0600). The issuer, client "
        "ID, endpoints, scopes and callback come from the server's /v1/auth/config unless "
        "given here. With --token, an API token is checked and saved instead. Every later "
        "command sends the saved token and renews an expired login by itself.",
    )
    p.add_argument(
        "--token",
        metavar="TOKEN",
        help="save this API token instead of logging in through a browser ('-' reads it "
        "from standard input, which keeps it out of the shell history)",
    )
    p.add_argument(
        "--id-token",
        metavar="TOKEN",
        help="exchange this ID token from the server's OIDC provider, skipping the "
        "browser ('-' reads it from standard input)",
    )
    p.add_argument(
        "--issuer",
        metavar="URL",
        help=f"OIDC issuer (env {ISSUER_ENV}; default: the server's)",
    )
    p.add_argument(
        "--client-id",
        metavar="ID",
        help=f"OIDC client ID of the CLI (env {CLIENT_ID_ENV}; default: the server's)",
    )
    p.add_argument(
        "--auth-url",
        metavar="URL",
        help="authorization endpoint (default: the server's, else the issuer's discovery)",
    )
    p.add_argument(
        "--token-url",
        metavar="URL",
        help="token endpoint (default: the server's, else the issuer's discovery)",
    )
    p.add_argument(
        "--scopes",
        metavar="SCOPES",
        help="scopes to ask for, space- or comma-separated "
        "(default: the server's, else 'openid profile email')",
    )
    p.add_argument(
        "--callback-port",
        metavar="PORT",
        type=port_arg,
        help="port of the local callback (default: the port of the server's redirect URI, "
        f"else {DEFAULT_CALLBACK_PORT}); the provider must allow the redirect URI",
    )
    p.add_argument(
        "--force-login",
        action="store_true",
        help="make the provider ask for the password again, even with a session "
        "(prompt=login, max_age=0)",
    )
    p.add_argument(
        "--no-browser", action="store_true", help="only print the URL to open, do not open it"
    )
    p.add_argument(
        "--login-timeout",
        metavar="SECONDS",
        type=seconds_arg,
        default=DEFAULT_LOGIN_TIMEOUT,
        help="give up waiting for the browser after this many seconds "
        f"(default {DEFAULT_LOGIN_TIMEOUT:.0f})",
    )

    command(
        commands,
        "logout",
        "logout",
        "log out of the server",
        "End the login session on the server and remove the saved tokens for it. "
        "An API token saved with 'login --token' is only removed here; revoke it with "
        "'taco token revoke'.",
    )
    command(
        commands,
        "whoami",
        "whoami",
        "show who the server takes you for",
        "Show the subject, email, groups and kind of credential the server sees "
        "(GET /v1/auth/me), and where the token came from.",
    )

    command(
        commands,
        "creds",
        "creds",
        "short-lived credentials for the S3 endpoint",
        "Get short-lived S3 credentials (access key, secret, session token) acting as you, "
        "for the server's S3-compatible endpoint (SERVER/s3), where Terraform's own "
        'backend "s3" keeps its state. With --json, print exactly the JSON an AWS profile\'s '
        "credential_process expects: credential_process = taco creds --json --server URL. "
        "They expire after the server's OPENTACO_S3_CREDS_TTL (1h by default), never after "
        "the token that asked for them; revoking that API token revokes them too.",
    )

    token = commands.add_parser(
        "token",
        help="manage API tokens",
        description="Manage API tokens: long-lived, revocable credentials for CI jobs, "
        "Terraform (backend password) and scripts. A token acts as the person who created "
        "it, or, made by an admin with --subject, as a service subject such as ci-dev.",
    )
    sub = token.add_subparsers(title="token commands", dest="token_command", metavar="COMMAND")
    sub.required = True
    p = command(
        sub,
        "create",
        "token.create",
        "create an API token",
        "Create an API token and print its secret. The secret is shown this once: the "
        "server keeps only its hash.",
    )
    p.add_argument("--name", required=True, help="what the token is for, e.g. ci")
    p.add_argument(
        "--expires",
        metavar="DURATION",
        help="lifetime: seconds or a duration such as 12h, 90d, 2w (default: until revoked)",
    )
    p.add_argument(
        "--subject",
        metavar="SUBJECT",
        help="make the token for this service subject, e.g. ci-dev, instead of for you "
        "(needs token.manage); it carries no email or groups and gets the roles assigned "
        "to the subject",
    )
    p.add_argument(
        "--role",
        dest="roles",
        metavar="ROLE",
        action="append",
        help="narrow the token to this role of its subject (repeatable); without it the "
        "token acts with every role its subject holds",
    )
    command(
        sub,
        "ls",
        "token.ls",
        "list API tokens",
        "List your API tokens (every token, for holders of token.manage): ID, name, "
        "subject, roles it is narrowed to, created, expires, status. Secrets are never shown.",
        aliases=("list",),
    )
    p = command(
        sub,
        "revoke",
        "token.revoke",
        "revoke an API token",
        "Revoke an API token: the server refuses it from the next request on.",
    )
    p.add_argument("token_id", metavar="ID", help="the token's ID (see 'taco token ls')")


def _add_rbac_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    globals_: argparse.ArgumentParser,
) -> None:
    rbac = commands.add_parser(
        "rbac",
        help="manage who may do what on which units",
        description="Manage authorization (RBAC): permissions (rules that allow or deny "
        "actions on unit-ID patterns), roles (sets of permissions) and which subjects hold "
        "which roles. Everything but 'me' and a test of yourself needs rbac.manage. "
        "Actions: unit.read, unit.read_outputs, unit.write, unit.lock, unit.delete, "
        "rbac.manage, token.manage, audit.read, *.",
    )
    groups = rbac.add_subparsers(title="rbac commands", dest="rbac_command", metavar="COMMAND")
    groups.required = True

    def command(
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        key: str,
        summary: str,
        description: str,
        aliases: tuple[str, ...] = (),
    ) -> argparse.ArgumentParser:
        also = f" Aliases: {', '.join(aliases)}." if aliases else ""
        p = sub.add_parser(
            name,
            aliases=list(aliases),
            help=summary,
            description=description + also,
            epilog=GLOBALS_NOTE,
            parents=[globals_],
        )
        p.set_defaults(command=f"rbac.{key}")
        return p

    def group(name: str, summary: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = groups.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + "."
        )
        sub = parser.add_subparsers(
            title=f"rbac {name} commands", dest=f"rbac_{name}_command", metavar="COMMAND"
        )
        sub.required = True
        return sub

    command(
        groups,
        "me",
        "me",
        "show your roles",
        "Show your subject, groups and the roles you act with (assigned, mapped from your "
        "groups, and cut down to a token's narrowing).",
    )
    p = command(
        groups,
        "test",
        "test",
        "may SUBJECT do ACTION on UNIT?",
        "Ask the server's evaluator, the one that enforces, whether SUBJECT may do ACTION on "
        "UNIT (a unit ID, or * for rbac.manage, token.manage and audit.read), and print "
        "which rule decided. Exits 0 when allowed and 4 when denied. Testing anyone but "
        "yourself needs rbac.manage.",
    )
    p.add_argument("subject", metavar="SUBJECT", help="the subject, e.g. ci-dev")
    p.add_argument("action", metavar="ACTION", help="e.g. unit.write")
    p.add_argument("unit", metavar="UNIT", help="unit ID, e.g. prod/app (or *)")

    users = group("user", "manage which subjects hold which roles")
    for verb, what in (
        ("assign", "give SUBJECT the role ROLE"),
        ("revoke", "take ROLE from SUBJECT"),
    ):
        p = command(users, verb, f"user.{verb}", what, what[0].upper() + what[1:] + ".")
        p.add_argument("subject", metavar="SUBJECT", help="the token's sub, e.g. ci-dev")
        p.add_argument("role", metavar="ROLE", help="role ID")
    command(
        users,
        "ls",
        "user.ls",
        "list subjects and their roles",
        "List every subject that holds a role, with its roles.",
        aliases=("list",),
    )

    roles = group("role", "manage roles (sets of permissions)")
    p = command(
        roles, "create", "role.create", "create a role", "Create a role with no permissions."
    )
    p.add_argument("role_id", metavar="ID", help="role ID: letters, digits, '.', '_', '-'")
    p.add_argument("--name", default="", help="display name (default: the ID)")
    p.add_argument("--description", default="", help="what the role is for")
    command(
        roles,
        "ls",
        "role.ls",
        "list roles",
        "List roles: ID, name, permissions, description.",
        aliases=("list",),
    )
    p = command(
        roles,
        "rm",
        "role.rm",
        "delete a role",
        "Delete a role. A role some subject holds is refused (naming them) unless --cascade.",
        aliases=("delete",),
    )
    p.add_argument("role_id", metavar="ID", help="role ID")
    p.add_argument("--cascade", action="store_true", help="also revoke it from its holders")
    p = command(
        roles,
        "assign-permission",
        "role.assign-permission",
        "give a role a permission",
        "Give role ROLE the permission PERM.",
        aliases=("assign-policy",),
    )
    p.add_argument("role", metavar="ROLE", help="role ID")
    p.add_argument("permission", metavar="PERM", help="permission ID")
    p = command(
        roles,
        "revoke-permission",
        "role.revoke-permission",
        "take a permission from a role",
        "Take the permission PERM from role ROLE.",
    )
    p.add_argument("role", metavar="ROLE", help="role ID")
    p.add_argument("permission", metavar="PERM", help="permission ID")

    permissions = group("permission", "manage permissions (rules on unit patterns)")
    p = command(
        permissions,
        "create",
        "permission.create",
        "create a permission",
        "Create a permission from one or more rules. A rule is "
        "EFFECT:ACTION[,ACTION...]:PATTERN[,PATTERN...], e.g. allow:unit.read,unit.write:dev/*. "
        "In a pattern * matches any run of characters, '/' included; nothing else is "
        "special. Any matching deny wins over every allow.",
    )
    p.add_argument("permission_id", metavar="ID", help="permission ID")
    p.add_argument(
        "--rule",
        dest="rules",
        metavar="EFFECT:ACTIONS:PATTERNS",
        type=rule_arg,
        action="append",
        required=True,
        help="a rule (repeatable), e.g. allow:unit.read,unit.write,unit.lock:dev/*",
    )
    p.add_argument("--name", default="", help="display name (default: the ID)")
    p.add_argument("--description", default="", help="what the permission is for")
    command(
        permissions,
        "ls",
        "permission.ls",
        "list permissions",
        "List permissions: ID, name and rules.",
        aliases=("list",),
    )
    p = command(
        permissions,
        "rm",
        "permission.rm",
        "delete a permission",
        "Delete a permission. One some role uses is refused (naming the roles) unless "
        "--cascade. Deleting a permission that holds a deny widens access.",
        aliases=("delete",),
    )
    p.add_argument("permission_id", metavar="ID", help="permission ID")
    p.add_argument("--cascade", action="store_true", help="also take it from the roles using it")
