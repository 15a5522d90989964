"""The CLI's parts in process: parser, exit-code table, saved locks, output helpers."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import pytest

from taco_adapters.remote import CredentialsFileError, ServerUnreachable, SessionExpired
from taco_cli.audit_command import AUDIT_HANDLERS
from taco_cli.auth_commands import AUTH_HANDLERS
from taco_cli.commands import HANDLERS
from taco_cli.errors import AuthenticationFailed, LocalFileError, NotUpToDate, UsageError
from taco_cli.lockfile import SavedLocks
from taco_cli.main import EXIT_CODES, exit_code_for, target_of
from taco_cli.output import human_size, table
from taco_cli.parser import build_parser
from taco_cli.provider_commands import PROVIDER_HANDLERS
from taco_cli.rbac_commands import RBAC_HANDLERS
from taco_core.errors import (
    Forbidden,
    InvalidState,
    LockConflict,
    StateRejected,
    StorageUnavailable,
    TokenNotFound,
    Unauthenticated,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.model import LockInfo


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every leaf command's parser by its name and aliases."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        assert isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items():
            if sub._subparsers is None:
                found[name] = sub
            else:
                found.update({f"{name} {k}": v for k, v in _commands(sub).items()})
    return found


def test_every_command_has_a_handler_and_every_handler_a_command() -> None:
    """The parser and the handler tables name the same commands, each once."""
    commands = {p.get_default("command") for p in _commands(build_parser()).values()}
    tables = [
        set(HANDLERS),
        set(AUTH_HANDLERS),
        set(RBAC_HANDLERS),
        set(PROVIDER_HANDLERS),
        set(AUDIT_HANDLERS),
    ]
    assert sum(len(t) for t in tables) == len(set().union(*tables))
    assert commands == set().union(*tables)


def test_rbac_commands_parse_as_the_issue_lists_them() -> None:
    """assign-policy is assign-permission; --rule is repeatable and checked
    while parsing; a bad rule is a usage error naming the form."""
    parse = build_parser().parse_args
    assert (
        parse(["rbac", "role", "assign-policy", "r", "p"]).command
        == parse(["rbac", "role", "assign-permission", "r", "p"]).command
        == "rbac.role.assign-permission"
    )
    args = parse(
        [
            "rbac",
            "permission",
            "create",
            "dev",
            "--rule",
            "allow:unit.read,unit.write:dev/*",
            "--rule",
            "deny:unit.write:dev/db",
        ]
    )
    assert [str(r) for r in args.rules] == [
        "allow:unit.read,unit.write:dev/*",
        "deny:unit.write:dev/db",
    ]
    test = parse(["rbac", "test", "ci-dev", "unit.write", "prod/app"])
    assert (test.subject, test.action, test.unit) == ("ci-dev", "unit.write", "prod/app")
    token = parse(
        ["token", "create", "--name", "ci", "--subject", "ci-dev", "--role", "a", "--role", "b"]
    )
    assert (token.subject, token.roles) == ("ci-dev", ["a", "b"])


def test_a_malformed_rule_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--rule allow:unit.read (no patterns) exits 2 and shows the expected form."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(
            ["rbac", "permission", "create", "p", "--rule", "allow:unit.read"]
        )
    assert exited.value.code == 2
    assert "EFFECT:ACTION[,ACTION...]:PATTERN[,PATTERN...]" in capsys.readouterr().err


def test_aliases_name_the_same_command() -> None:
    """ls/list, info/show/describe and rm/delete/remove parse to one command."""
    parse = build_parser().parse_args
    assert parse(["unit", "list"]).command == parse(["unit", "ls"]).command == "unit.ls"
    for alias in ("info", "show", "describe"):
        assert parse(["unit", alias, "a"]).command == "unit.info"
    for alias in ("rm", "delete", "remove"):
        assert parse(["unit", alias, "a"]).command == "unit.rm"


def test_global_options_work_before_and_after_the_command() -> None:
    """--json, -v, --server given before the command survive the command's parser."""
    parse = build_parser().parse_args
    before = parse(["--json", "-v", "--server", "http://s", "unit", "ls"])
    after = parse(["unit", "ls", "--json", "-v", "--server", "http://s"])
    for args in (before, after):
        assert (args.json, args.verbose, args.server) == (True, True, "http://s")
    plain = parse(["unit", "ls"])
    assert (plain.json, plain.verbose, plain.server, plain.timeout) == (False, False, None, 30.0)


def test_server_comes_from_flag_then_environment_then_default() -> None:
    """--server beats OPENTACO_SERVER, which beats http://localhost:8080."""
    parse = build_parser().parse_args
    env = {"OPENTACO_SERVER": "http://env:1/"}
    assert target_of(parse(["unit", "ls"]), {}).server == "http://localhost:8080"
    assert target_of(parse(["unit", "ls"]), env).server == "http://env:1"
    assert target_of(parse(["--server", "http://flag", "unit", "ls"]), env).server == "http://flag"
    with pytest.raises(UsageError, match="OPENTACO_SERVER must be an http"):
        target_of(parse(["unit", "ls"]), {"OPENTACO_SERVER": "env:1"})


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("x"), 2),
        (LockConflict("a", LockInfo(id="l")), 3),
        (UnitNotFound("a"), 4),
        (VersionNotFound("a", 1), 4),
        (UnitAlreadyExists("a"), 1),
        (StateRejected("a", "r", 2), 1),
        (InvalidState("x"), 1),
        (ServerUnreachable("x"), 1),
        (StorageUnavailable("x"), 1),
        (LocalFileError("x"), 1),
        (CredentialsFileError("x"), 1),
        (Unauthenticated("x"), 5),
        (SessionExpired("x"), 5),
        (AuthenticationFailed("x"), 5),
        (Forbidden("x"), 1),
        (TokenNotFound("t"), 4),
        (NotUpToDate("x"), 6),
    ],
)
def test_exit_code_table(error: Exception, code: int) -> None:
    """One table: usage 2, lock conflict 3, not found 4, authentication 5, not up to
    date 6, else 1."""
    assert exit_code_for(error) == code


def test_exit_code_table_is_most_specific_first() -> None:
    """No entry is shadowed by an earlier, broader one."""
    for i, (cls, _) in enumerate(EXIT_CODES):
        for earlier, _ in EXIT_CODES[:i]:
            assert not issubclass(cls, earlier), (cls, earlier)


def test_saved_locks_are_0600_keyed_by_server_and_unit(tmp_path: Path) -> None:
    """A saved lock ID is private, per server and per unit, and forgotten on request."""
    here = SavedLocks(tmp_path / ".taco", "http://a:8080")
    path = here.save("app/prod", LockInfo(id="L1", who="me"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / ".taco").stat().st_mode) == 0o700
    assert (tmp_path / ".taco" / ".gitignore").read_text().endswith("*\n")
    assert here.get("app/prod") == "L1"
    assert here.get("app") is None
    assert here.get("app/prod/x") is None
    assert SavedLocks(tmp_path / ".taco", "http://b:8080").get("app/prod") is None
    here.forget("app/prod")
    here.forget("app/prod")
    assert here.get("app/prod") is None


def test_a_damaged_saved_lock_is_an_error_naming_the_file(tmp_path: Path) -> None:
    """A corrupt lock file is reported, not silently ignored."""
    locks = SavedLocks(tmp_path, "http://a")
    locks.save("u", LockInfo(id="L"))
    locks.path("u").write_text("{not json")
    with pytest.raises(LocalFileError, match=str(locks.path("u"))):
        locks.get("u")


def test_human_sizes_and_tables() -> None:
    """Sizes read like ls -h; table columns line up."""
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 5 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "5.0 GiB",
    ]
    assert table(["A", "BB"], [["xxx", "y"]]) == ["A    BB", "xxx  y"]


@pytest.mark.parametrize("raw", ["²", "٣", "-1", "1.0", "9" * 20, "0" * 5000 + "1" + "0" * 19])
def test_version_numbers_are_ascii_and_fit_a_store(raw: str) -> None:
    """--version refuses digits int() or SQLite cannot take, as a usage error (exit 2)."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["unit", "pull", "x", "--version", raw])
    assert exc.value.code == 2


def test_version_numbers_up_to_64_bits_are_accepted() -> None:
    """0 (an adopted state) through 2^63-1 parse, leading zeros allowed."""
    for raw, number in (("0", 0), ("007", 7), (str(2**63 - 1), 2**63 - 1)):
        assert build_parser().parse_args(["unit", "pull", "x", "--version", raw]).version == number
