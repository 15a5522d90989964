"""One ``StateControl``, two implementations: the same scenario, the same transcript.

The scenario runs against ``RemoteStateControl`` (a live ``opentacosvc``) and
against the embedded ``StateService`` over SQLite, recording every outcome
(values and error classes) without the parts that legitimately differ
(timestamps). The two transcripts must be identical: a front end cannot tell
which one it was given.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from taco_adapters.clock import SystemClock
from taco_adapters.remote import RemoteStateControl
from taco_adapters.sqlite import SqliteStateStore
from taco_core.caller import local_caller
from taco_core.errors import (
    InvalidInput,
    InvalidUnitId,
    ReservedUnitId,
    StateTooLarge,
    TacoError,
)
from taco_core.model import LockInfo, StateVersion, Unit
from taco_core.ports import StateControl
from taco_core.service import StateService
from taco_core.unit_id import UnitId
from tests.cli.conftest import state
from tests.servers import Server


def _unit(u: Unit) -> tuple[Any, ...]:
    lock = (u.lock.id, u.lock.who) if u.lock else None
    return (u.id, u.size, u.head, lock, dict(u.labels), u.deleted)


def _version(v: StateVersion) -> tuple[Any, ...]:
    return (v.number, v.serial, v.lineage, v.size, v.sha256, v.quarantined, v.restored_from)


def _kind(exc: TacoError) -> str:
    """The error's class; for 400s, the class the HTTP API can tell apart.

    A 400 body carries only a message, so over HTTP every invalid-input error
    other than a unit ID (checked client-side) arrives as ``InvalidInput``.
    """
    if isinstance(exc, InvalidInput) and not isinstance(exc, InvalidUnitId | ReservedUnitId):
        return "InvalidInput" if not isinstance(exc, StateTooLarge) else "StateTooLarge"
    return type(exc).__name__


async def scenario(control: StateControl, prefix: str) -> list[Any]:
    """Every method of the port, happy and failing, as a transcript."""
    log: list[Any] = []
    uid = UnitId(f"{prefix}/app")

    async def step(name: str, coro: Any) -> Any:
        try:
            result = await coro
        except TacoError as exc:
            holder = getattr(exc, "holder", None)
            log.append(("step", name, _kind(exc), (holder.id, holder.who) if holder else None))
            return None
        log.append(("step", name, "ok"))
        return result

    unit = await step("create", control.create_unit(uid, {"team": "a"}))
    log.append(_unit(unit))
    await step("create again", control.create_unit(uid))
    await step("create reserved", control.create_unit("__opentaco_x"))
    relabelled = await step("relabel", control.update_labels(uid, {"tier": "1", "team": None}))
    log.append(_unit(relabelled))
    await step("relabel missing", control.update_labels(UnitId(f"{prefix}/missing"), {}))
    await step("get missing", control.get_unit(UnitId(f"{prefix}/missing")))
    log.append(await step("download empty", control.download(uid)))
    written = await step("upload 1", control.upload(uid, state(1)))
    log.append((_version(written.version), written.changed))
    again = await step("upload 1 again", control.upload(uid, state(1)))
    log.append((_version(again.version), again.changed))
    version, data = await step("download", control.download(uid))
    log.append((_version(version), data == state(1)))
    held = await step("lock", control.lock(uid, LockInfo(id="L1", who="me")))
    log.append((held.id, held.who, bool(held.created)))
    await step("lock other", control.lock(uid, LockInfo(id="L2")))
    await step("upload unlocked", control.upload(uid, state(2)))
    await step("upload locked", control.upload(uid, state(2), lock_id="L1"))
    await step("delete locked", control.delete_unit(uid))
    await step("unlock wrong", control.unlock(uid, "L2"))
    await step("unlock", control.unlock(uid, "L1"))
    await step("unlock again", control.unlock(uid, "L1"))
    await step("upload old serial", control.upload(uid, state(1)))
    forced = await step("upload forced", control.upload(uid, state(1, "other"), force=True))
    log.append(_version(forced.version))
    await step("invalid state", control.upload(uid, b"[1, 2]"))
    log.append([_version(v) for v in await step("versions", control.list_versions(uid))])
    old, old_data = await step("read version 1", control.read_version(uid, 1))
    log.append((_version(old), old_data == state(1)))
    await step("read version 99", control.read_version(uid, 99))
    restored = await step("restore 2", control.restore(uid, 2))
    log.append(_version(restored))
    log.append([_unit(u) for u in await step("list", control.list_units(f"{prefix}/"))])
    await step("delete", control.delete_unit(uid))
    log.append([_unit(u) for u in await step("list", control.list_units(f"{prefix}/"))])
    deleted = await step("list deleted", control.list_units(f"{prefix}/", deleted=True))
    log.append([_unit(u) for u in deleted])
    log.append(_unit(await step("undelete", control.undelete_unit(uid))))
    await step("undelete again", control.undelete_unit(uid))
    return log


@contextlib.asynccontextmanager
async def embedded(tmp_path: Path) -> AsyncIterator[StateControl]:
    store = await SqliteStateStore.open(tmp_path / "embedded.db")
    try:
        yield StateService(store, SystemClock()).acting_as(local_caller("tester"))
    finally:
        await store.aclose()


async def test_remote_and_embedded_give_the_same_transcript(
    cli_server: Server, tmp_path: Path
) -> None:
    """Every port method behaves the same over HTTP as in process, errors included."""
    async with RemoteStateControl(cli_server.url) as remote:
        over_http = await scenario(remote, "same")
    async with embedded(tmp_path) as local:
        in_process = await scenario(local, "same")
    assert over_http == in_process
    # And the transcript says what it should, so two equal wrong answers cannot pass.
    outcomes = {e[1]: e[2:] for e in in_process if isinstance(e, tuple) and e[:1] == ("step",)}
    assert outcomes["upload 1"] == outcomes["unlock again"] == outcomes["undelete"] == ("ok",)
    assert outcomes["create again"][0] == "UnitAlreadyExists"
    assert outcomes["create reserved"][0] == "ReservedUnitId"
    assert outcomes["get missing"][0] == "UnitNotFound"
    assert outcomes["relabel missing"][0] == "UnitNotFound"
    assert outcomes["relabel"] == ("ok",)
    relabelled = in_process[in_process.index(("step", "relabel", "ok")) + 1]
    assert relabelled[4] == {"tier": "1"}
    assert outcomes["lock other"][0] == "LockConflict"
    assert outcomes["lock other"][1] == ("L1", "me")
    assert outcomes["upload unlocked"][0] == "LockConflict"
    assert outcomes["delete locked"][0] == "LockConflict"
    assert outcomes["unlock wrong"][0] == "LockConflict"
    assert outcomes["upload old serial"][0] == "StateRejected"
    assert outcomes["invalid state"][0] == "InvalidInput"
    assert outcomes["read version 99"][0] == "VersionNotFound"
    assert outcomes["undelete again"][0] == "UnitNotFound"
