"""The ``taco unit`` and ``taco dep`` commands, each an async function over
``StateControl`` and ``DependencyGraph``.

A handler never knows whether it talks to a server or to a local SQLite file,
and never decides an exit code: it raises the core's errors (or the CLI's
own, for local problems) and ``taco_cli.main`` maps them in one table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import anyio
from attrs import frozen

from taco_adapters.wire import (
    diff_json,
    edge_json,
    lock_json,
    status_json,
    statuses_json,
    unit_json,
)
from taco_cli import __version__
from taco_cli.errors import LocalFileError, NotUpToDate, UsageError
from taco_cli.lockfile import SavedLocks
from taco_cli.output import (
    LABELS,
    Output,
    diff_lines,
    edges_lines,
    human_size,
    status_lines,
    unit_lines,
    units_lines,
    version_doc,
    versions_lines,
)
from taco_core.errors import NotFound, TacoError
from taco_core.graph_status import Colour
from taco_core.model import LockInfo, StateVersion, WriteResult
from taco_core.ports import DependencyGraph, StateControl
from taco_core.unit_id import UnitId

# Terraform names its lock operations OperationTypePlan, OperationTypeApply ...;
# this one tells whoever meets the lock that a person holds it through taco.
LOCK_OPERATION = "OperationTypeTaco"


@frozen
class Context:
    """What every command needs, wired by ``taco_cli.main``."""

    control: StateControl
    graph: DependencyGraph
    out: Output
    locks: SavedLocks
    who: str
    stdin: IO[bytes]


Handler = Callable[[Context, argparse.Namespace], Awaitable[None]]


# -- local files --------------------------------------------------------------


def read_state(ctx: Context, file: str) -> bytes:
    if file == "-":
        return ctx.stdin.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise LocalFileError(f"cannot read state file {file!r}: {exc.strerror or exc}") from None


def write_state(file: str, data: bytes) -> None:
    """Write atomically: a failed pull never leaves half a state behind."""
    path = Path(file)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LocalFileError(f"cannot write state file {file!r}: {exc.strerror or exc}") from None


def _deliver(ctx: Context, unit_id: UnitId, file: str, version: StateVersion, data: bytes) -> str:
    """Put a downloaded state where the user asked; return a line saying so."""
    quarantined = " (quarantined: refused by the clobber guard)" if version.quarantined else ""
    if file == "-":
        ctx.out.state(data)
        return f"version {version.number}, {human_size(version.size)}{quarantined}"
    write_state(file, data)
    return (
        f"Unit downloaded to: {file} ({unit_id} version {version.number}, "
        f"{human_size(version.size)}){quarantined}"
    )


def _written(unit_id: UnitId, result: WriteResult) -> str:
    v = result.version
    if not result.changed:
        return f"State unchanged: identical to version {v.number} of {unit_id}"
    serial = "" if v.serial is None else f", serial {v.serial}"
    return f"Unit uploaded: {unit_id} (version {v.number}{serial}, {human_size(v.size)})"


def _write_doc(unit_id: UnitId, result: WriteResult) -> dict[str, object]:
    return {"unit": unit_id, "version": version_doc(result.version), "changed": result.changed}


def _saved_lock(ctx: Context, unit_id: UnitId, command: str) -> str:
    lock_id = ctx.locks.get(unit_id)
    if lock_id is None:
        raise UsageError(
            f"no saved lock ID for unit {unit_id!r} on {ctx.locks.origin} in this directory; "
            f"run 'taco unit lock {unit_id}' or 'taco unit acquire {unit_id}' here first"
            + (", or pass the lock ID" if command == "unlock" else "")
        )
    return lock_id


async def _take_lock(ctx: Context, unit_id: UnitId, info: str) -> tuple[LockInfo, bool]:
    """Lock the unit, reusing this directory's saved lock ID so that locking
    twice is a no-op. Returns the lock and whether it was already ours."""
    saved = ctx.locks.get(unit_id)
    wanted = LockInfo(
        id=saved or str(uuid.uuid4()),
        operation=LOCK_OPERATION,
        info=info,
        who=ctx.who,
        version=__version__,
    )
    held = await ctx.control.lock(unit_id, wanted)
    ctx.locks.save(unit_id, held)
    return held, saved == held.id


# -- commands -----------------------------------------------------------------


async def create(ctx: Context, args: argparse.Namespace) -> None:
    unit = await ctx.control.create_unit(args.unit_id, dict(args.label))
    ctx.out.result(unit_json(unit), [f"Unit created: {unit.id}"])


async def list_units(ctx: Context, args: argparse.Namespace) -> None:
    units = await ctx.control.list_units(args.prefix, deleted=args.deleted)
    ctx.out.result(
        {"units": [unit_json(u) for u in units], "count": len(units)},
        units_lines(units, deleted=args.deleted),
    )


async def info(ctx: Context, args: argparse.Namespace) -> None:
    unit = await ctx.control.get_unit(args.unit_id)
    ctx.out.result(unit_json(unit), unit_lines(unit))


async def remove(ctx: Context, args: argparse.Namespace) -> None:
    await ctx.control.delete_unit(args.unit_id)
    ctx.out.result(
        {"id": args.unit_id, "deleted": True},
        [
            f"Unit deleted: {args.unit_id}",
            f"(recoverable for the server's grace period: taco unit undelete {args.unit_id})",
        ],
    )


async def undelete(ctx: Context, args: argparse.Namespace) -> None:
    unit = await ctx.control.undelete_unit(args.unit_id)
    ctx.out.result(unit_json(unit), [f"Unit undeleted: {unit.id}"])


async def pull(ctx: Context, args: argparse.Namespace) -> None:
    unit_id: UnitId = args.unit_id
    if args.version is not None:
        version, data = await ctx.control.read_version(unit_id, args.version)
    else:
        found = await ctx.control.download(unit_id)
        if found is None:
            raise NotFound(
                f"unit {unit_id!r} has no state yet; upload one with: taco unit push {unit_id} FILE"
            )
        version, data = found
    line = _deliver(ctx, unit_id, args.file, version, data)
    if args.file != "-":
        ctx.out.result({"unit": unit_id, "file": args.file, **version_doc(version)}, [line])


async def push(ctx: Context, args: argparse.Namespace) -> None:
    unit_id: UnitId = args.unit_id
    data = read_state(ctx, args.file)
    result = await ctx.control.upload(
        unit_id, data, lock_id=ctx.locks.get(unit_id), force=args.force
    )
    ctx.out.result(
        {**_write_doc(unit_id, result), "forced": args.force}, [_written(unit_id, result)]
    )


async def lock(ctx: Context, args: argparse.Namespace) -> None:
    held, _ = await _take_lock(ctx, args.unit_id, "taco unit lock")
    ctx.out.result(
        {"unit": args.unit_id, "lock": lock_json(held)},
        [f"Unit locked: {args.unit_id} (lock ID: {held.id})"],
    )


async def unlock(ctx: Context, args: argparse.Namespace) -> None:
    unit_id: UnitId = args.unit_id
    saved = ctx.locks.get(unit_id)
    lock_id: str | None = None
    if not args.force:
        lock_id = args.lock_id or saved or _saved_lock(ctx, unit_id, "unlock")
    await ctx.control.unlock(unit_id, lock_id)
    if args.force or lock_id == saved:
        ctx.locks.forget(unit_id)
    forced = " (forced)" if args.force else ""
    ctx.out.result(
        {"unit": unit_id, "unlocked": True, "forced": args.force},
        [f"Unit unlocked{forced}: {unit_id}"],
    )


async def acquire(ctx: Context, args: argparse.Namespace) -> None:
    """Lock, then download. The lock ID is saved before the download so a
    crash cannot lose it; a failed download gives the lock back, unless this
    directory held it before (then it stays as it was)."""
    unit_id: UnitId = args.unit_id
    held, already_ours = await _take_lock(ctx, unit_id, "taco unit acquire")
    try:
        found = await ctx.control.download(unit_id)
        line = (
            _deliver(ctx, unit_id, args.file, *found)
            if found is not None
            else "it has no state yet, nothing downloaded"
        )
    except BaseException:
        if not already_ours:
            await _give_back(ctx, unit_id, held.id)
        raise
    doc = {
        "unit": unit_id,
        "lock": lock_json(held),
        "file": args.file if found is not None else None,
        "version": version_doc(found[0]) if found is not None else None,
    }
    locked = f"Unit locked: {unit_id} (lock ID: {held.id})"
    if args.file == "-" and found is not None:
        ctx.out.result(doc, [f"{locked}; state on stdout ({line})"], to_stderr=True)
    else:
        ctx.out.result(doc, [locked, line] if found is not None else [f"{locked}; {line}"])


async def _give_back(ctx: Context, unit_id: UnitId, lock_id: str) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await ctx.control.unlock(unit_id, lock_id)
        except TacoError as exc:
            ctx.out.warn(
                f"could not release the lock again ({exc.message}); "
                f"its ID {lock_id} stays saved for 'taco unit unlock {unit_id}'"
            )
        else:
            ctx.locks.forget(unit_id)


async def release(ctx: Context, args: argparse.Namespace) -> None:
    unit_id: UnitId = args.unit_id
    lock_id = _saved_lock(ctx, unit_id, "release")
    data = read_state(ctx, args.file)
    # If the upload fails the lock stays: nobody else may write before a retry.
    result = await ctx.control.upload(unit_id, data, lock_id=lock_id)
    await ctx.control.unlock(unit_id, lock_id)
    ctx.locks.forget(unit_id)
    ctx.out.result(
        {**_write_doc(unit_id, result), "unlocked": True},
        [_written(unit_id, result), f"Unit unlocked: {unit_id}"],
    )


async def versions(ctx: Context, args: argparse.Namespace) -> None:
    unit_id: UnitId = args.unit_id
    unit = await ctx.control.get_unit(unit_id)
    history = await ctx.control.list_versions(unit_id)
    ctx.out.result(
        {
            "unit_id": unit_id,
            "current": unit.head,
            "versions": [version_doc(v) for v in history],
            "count": len(history),
        },
        versions_lines(history, unit.head),
    )


async def restore(ctx: Context, args: argparse.Namespace) -> None:
    unit_id: UnitId = args.unit_id
    version = await ctx.control.restore(unit_id, args.number, lock_id=ctx.locks.get(unit_id))
    serial = "" if version.serial is None else f" (serial {version.serial})"
    ctx.out.result(
        {"unit": unit_id, "restored_version": args.number, "version": version_doc(version)},
        [
            f"Unit restored: {unit_id} version {args.number} is current again "
            f"as version {version.number}{serial}"
        ],
    )


async def diff(ctx: Context, args: argparse.Namespace) -> None:
    unit_id: UnitId = args.unit_id
    result = await ctx.control.diff(unit_id, args.from_version, args.to_version)
    ctx.out.result({"unit_id": unit_id, **diff_json(result)}, diff_lines(result))


async def status(ctx: Context, args: argparse.Namespace) -> None:
    if args.unit_id is not None and args.prefix:
        raise UsageError("give a unit ID or --prefix, not both")
    if args.unit_id is not None:
        found = [await ctx.graph.unit_status(args.unit_id)]
        doc = status_json(found[0])
    else:
        found = list(await ctx.graph.statuses("" if args.prefix == "/" else args.prefix))
        doc = statuses_json(found)
    listing = args.unit_id is None
    ctx.out.result(doc, status_lines(found, colour=ctx.out.colour, listing=listing))
    stale = [s for s in found if s.status is not Colour.GREEN]
    if args.exit_code and stale:
        noun = "unit is" if len(stale) == 1 else "units are"
        named = ", ".join(f"{s.unit_id} {LABELS[s.status]}" for s in stale[:3])
        more = ", ..." if len(stale) > 3 else ""
        raise NotUpToDate(f"{len(stale)} {noun} not up to date: {named}{more}")


async def dep_ls(ctx: Context, args: argparse.Namespace) -> None:
    view = await ctx.graph.graph(args.unit_id)
    edges = sorted(
        view.edges, key=lambda e: (e.from_unit_id, e.from_output, e.to_unit_id, e.to_input)
    )
    ctx.out.result(
        {"edges": [edge_json(e) for e in edges], "count": len(edges)},
        edges_lines(edges, colour=ctx.out.colour),
    )


HANDLERS: dict[str, Handler] = {
    "unit.create": create,
    "unit.ls": list_units,
    "unit.info": info,
    "unit.rm": remove,
    "unit.undelete": undelete,
    "unit.pull": pull,
    "unit.push": push,
    "unit.lock": lock,
    "unit.unlock": unlock,
    "unit.acquire": acquire,
    "unit.release": release,
    "unit.versions": versions,
    "unit.restore": restore,
    "unit.diff": diff,
    "unit.status": status,
    "dep.ls": dep_ls,
}
