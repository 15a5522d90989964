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
from collections.abc import Callable
from typing import Any

from taco_cli import __version__
from taco_core.errors import InvalidInput
from taco_core.unit_id import UnitId, parse_unit_id, parse_user_unit_id

DEFAULT_SERVER = "http://localhost:8080"
SERVER_ENV = "OPENTACO_SERVER"
LOCK_DIR = ".taco"

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
    ("taco --json unit ls | jq -r '.units[].id'", "machine-readable output"),
    ("taco --embedded ./taco.db unit ls", "work on a local SQLite file, no server"),
)

EXIT_STATUS: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (1, "error: invalid input, refused write, server unreachable or failing"),
    (2, "usage error: bad arguments, or no saved lock ID where one is needed"),
    (3, "lock conflict: the unit is locked by someone else (the holder is printed)"),
    (4, "not found: the unit, version or state does not exist"),
)

ENVIRONMENT: tuple[tuple[str, str], ...] = (
    (SERVER_ENV, f"server URL when --server is not given (default {DEFAULT_SERVER})"),
)

FILES: tuple[tuple[str, str], ...] = (
    (
        f"{LOCK_DIR}/locks/",
        "lock IDs obtained by lock and acquire, one 0600 file per server and unit, "
        "under the working directory; used by push, unlock, release and restore, "
        "removed by unlock and release",
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
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"version must be a whole number, got {raw!r}")
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
    commands = parser.add_subparsers(title="commands", dest="group", metavar="COMMAND")
    commands.required = True
    unit = commands.add_parser(
        "unit",
        help="manage units",
        description="Manage units: one Terraform state each, with its lock and history.",
    )
    _add_unit_commands(unit)
    return parser


def _add_unit_commands(unit: argparse.ArgumentParser) -> None:
    globals_ = argparse.ArgumentParser(add_help=False)
    _add_globals(globals_, top=False)
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
