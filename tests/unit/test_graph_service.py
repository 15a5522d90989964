"""The graph service over real stores: the queue, the lock, races, restarts,
read-your-writes, colour events and what a caller may see."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from taco_core.access import ReadAccess
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.digest import value_digest
from taco_core.errors import PermissionDenied, UnitNotFound
from taco_core.events import AccessDenied
from taco_core.graph import GRAPH_UNIT
from taco_core.graph_service import Outcome
from taco_core.graph_status import Colour
from taco_core.model import Surface, UnitId
from tests.unit.graph_world import TERRAFORM, World, world_on

T = TypeVar("T")

AB = ("a", "out", "b")
BC = ("b", "out", "c")


@pytest.fixture(params=["memory", "sqlite"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with world_on(request.param, tmp_path) as w:
        yield w


async def chain(world: World) -> None:
    """a -> b -> c, every unit applied once, edges seeded: all ok."""
    await world.write("a", out="a1")
    await world.write("b", out="b1")
    await world.write("c", out="c1")
    await world.set_edges([AB, BC])
    assert await world.graph.flush() is Outcome.DONE


async def test_fresh_edges_are_seeded_from_current_states(world: World) -> None:
    """A graph written by Terraform gets digests at once: edges between units
    that have states are ok, not unknown."""
    await chain(world)
    assert await world.committed() == {AB: "ok", BC: "ok"}
    assert await world.colours("a", "b", "c") == "ggg"
    assert world.graph.queued == 0


async def test_a_write_is_applied_and_committed_by_the_system(world: World) -> None:
    """Changing a's output makes a->b pending (b red, c yellow) in a graph
    version the system wrote, with the serial raised and every other field kept."""
    await chain(world)
    before = await world.graph_doc()
    await world.write("a", out="a2")
    assert world.graph.queued == 1
    assert await world.graph.flush() is Outcome.DONE
    assert world.graph.queued == 0
    assert await world.committed() == {AB: "pending", BC: "ok"}
    assert await world.colours("a", "b", "c") == "gry"
    after = await world.graph_doc()
    assert before is not None and after is not None
    assert after["serial"] == before["serial"] + 1
    assert after["lineage"] == before["lineage"]
    assert after["x_keep"] == {"n": 1.0}
    head = (await world.store.read_state(GRAPH_UNIT))[0]  # type: ignore[index]
    assert head.surface == Surface.SYSTEM
    await world.write("b", out="b2")
    await world.graph.flush()
    assert await world.committed() == {AB: "ok", BC: "pending"}
    await world.write("c", out="c2")
    await world.graph.flush()
    assert await world.committed() == {AB: "ok", BC: "ok"}


async def test_a_status_read_right_after_a_write_sees_it(world: World) -> None:
    """Read-your-writes: before the worker runs, the answer lays the queued
    write over the graph; nothing is committed by reading."""
    await chain(world)
    await world.write("a", out="a2")
    assert await world.colour("b") is Colour.RED
    assert await world.colour("c") is Colour.YELLOW
    assert await world.committed() == {AB: "ok", BC: "ok"}
    assert world.graph.queued == 1


async def test_a_locked_graph_waits_and_loses_nothing(world: World) -> None:
    """While someone holds the graph unit's lock the service commits nothing
    and keeps its queue; status reads still see the writes; after the release
    every write lands."""
    await chain(world)
    await world.lock_graph()
    await world.write("a", out="a2")
    await world.write("b", out="b2")
    assert await world.graph.flush() is Outcome.BLOCKED
    assert world.graph.queued == 2
    assert await world.committed() == {AB: "ok", BC: "ok"}
    assert await world.colours("a", "b", "c") == "ggr"
    await world.unlock_graph()
    assert await world.graph.flush() is Outcome.DONE
    assert await world.committed() == {AB: "ok", BC: "pending"}


async def test_terraform_adding_an_edge_while_writes_are_queued(world: World) -> None:
    """Terraform applies the graph (holding its lock) while writes queue: its
    new edge is seeded and the queued writes applied in one rewrite after it."""
    await chain(world)
    lock = await world.lock_graph()
    await world.write("a", out="a2")
    await world.set_edges([AB, BC, ("a", "out", "c")], lock_id=lock)
    assert await world.graph.flush() is Outcome.BLOCKED
    await world.unlock_graph()
    assert await world.graph.flush() is Outcome.DONE
    assert await world.committed() == {AB: "pending", BC: "ok", ("a", "out", "c"): "ok"}


async def test_a_write_just_after_a_new_edge_makes_it_pending(world: World) -> None:
    """Terraform adds a->b, then a changes before the service saw the new edge:
    the edge is seeded from the states as they were when it was added, so a's
    change still makes it pending instead of being taken as consumed."""
    await world.write("a", out="a1")
    await world.write("b", out="b1")
    await world.set_edges([AB])
    await world.write("a", out="a2")
    assert await world.colours("a", "b") == "gr"
    assert await world.graph.flush() is Outcome.DONE
    assert await world.committed() == {AB: "pending"}


async def test_two_graph_versions_the_service_has_not_seen(world: World) -> None:
    """Terraform adds a->b, a changes, Terraform adds b->c, all while the
    service could not write: each edge is seeded as of the version that added
    it, so a->b is pending and b->c ok."""
    await world.write("a", out="a1")
    await world.write("b", out="b1")
    await world.write("c", out="c1")
    lock = await world.lock_graph()
    await world.set_edges([AB], lock_id=lock)
    await world.write("a", out="a2")
    await world.set_edges([AB, BC], lock_id=lock)
    assert await world.graph.flush() is Outcome.BLOCKED
    await world.unlock_graph()
    assert await world.graph.flush() is Outcome.DONE
    assert await world.committed() == {AB: "pending", BC: "ok"}


class RacingStore:
    """Delegates to a real store; just before the system's first commit to the
    graph unit, Terraform's own write lands (the race a CAS must catch)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.inner = world.store
        self.raced = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def commit(self, unit_id: UnitId, new, **kwargs):
        if unit_id == GRAPH_UNIT and new.surface == Surface.SYSTEM and not self.raced:
            self.raced = True
            self.world.states.store = self.inner
            await self.world.set_edges([AB, BC, ("c", "out", "d")])
            self.world.states.store = self  # type: ignore[assignment]
        return await self.inner.commit(unit_id, new, **kwargs)


async def test_a_commit_racing_terraform_is_retried_on_the_new_head(world: World) -> None:
    """The system's conditional commit loses to Terraform's write: nothing of
    Terraform's is overwritten, and the next pass applies the queue on top."""
    await chain(world)
    await world.write("a", out="a2")
    world.states.store = RacingStore(world)  # type: ignore[assignment]
    assert await world.graph.flush() is Outcome.RETRY
    assert world.graph.queued == 1
    assert await world.graph.flush() is Outcome.DONE
    assert await world.committed() == {
        AB: "pending",
        BC: "ok",
        ("c", "out", "d"): "pending",  # d has no state yet
    }
    versions = await world.store.list_versions(GRAPH_UNIT)
    assert not any(v.quarantined for v in versions)


async def test_a_restart_catches_up_with_writes_never_applied(world: World) -> None:
    """Writes queued when the process stopped are recovered from the current
    states by the reconciliation a new process starts with."""
    await chain(world)
    await world.write("a", out="a2")
    world.clock.advance(5)
    await world.write("b", out="b2")  # b consumed a2 and changed its own output
    assert world.graph.queued == 2  # ... and the process dies here
    after = world.restarted()
    assert await after.graph.reconcile() is Outcome.DONE
    assert await after.committed() == {AB: "ok", BC: "pending"}
    assert await after.colours("a", "b", "c") == "ggr"


async def test_a_restart_dates_values_from_history(world: World) -> None:
    """a changes, b consumes it, a is applied again with the same output, and
    the process dies: the reconciliation reads a's history to see the value
    is older than b's write, so b is not asked to re-apply."""
    await chain(world)
    await world.write("a", out="a2")
    await world.write("b", out="b1")
    await world.write("a", out="a2")
    after = world.restarted()
    assert await after.graph.reconcile() is Outcome.DONE
    assert await after.committed() == {AB: "ok", BC: "ok"}


async def test_reconciling_an_up_to_date_graph_changes_nothing(world: World) -> None:
    """A periodic reconciliation of a graph the queue kept up to date writes no version."""
    await chain(world)
    await world.write("a", out="a2")
    await world.graph.flush()
    count = len(await world.store.list_versions(GRAPH_UNIT))
    assert await world.graph.reconcile() is Outcome.DONE
    assert len(await world.store.list_versions(GRAPH_UNIT)) == count


async def test_a_restart_knows_which_edges_it_had_seen(world: World) -> None:
    """After a restart, a graph Terraform wrote meanwhile is seeded only for
    its new edges: the pending edge the service recorded before stays pending."""
    await chain(world)
    await world.write("a", out="a2")
    await world.graph.flush()
    after = world.restarted()
    await after.set_edges([AB, BC, ("a", "out", "c")])
    assert await after.graph.flush() is Outcome.DONE
    assert await after.committed() == {AB: "pending", BC: "ok", ("a", "out", "c"): "ok"}


async def test_an_undeleted_unit_counts_as_written(world: World) -> None:
    """An edge declared while its source was deleted cannot be seeded
    (unknown); bringing the source back refreshes it like a write of the
    state that is current again (pending: b never consumed it), and a
    status read sees that at once."""
    await world.write("b", out="b1")
    await world.write("a", out="a1")
    await world.states.delete_unit(TERRAFORM, UnitId("a"))
    await world.set_edges([AB])
    assert await world.graph.flush() is Outcome.DONE
    assert await world.committed() == {AB: "unknown"}
    assert await world.colour("b") is Colour.GREEN
    await world.states.undelete_unit(TERRAFORM, UnitId("a"))
    assert await world.colour("b") is Colour.RED
    assert await world.graph.flush() is Outcome.DONE
    assert await world.committed() == {AB: "pending"}
    [edge] = await world.committed_edges()
    assert edge.in_digest == value_digest("a1")


async def test_a_reconciliation_sees_an_undelete_made_elsewhere(world: World) -> None:
    """Another replica's periodic reconciliation catches an undelete it never
    heard of, though the unit's update time is older than its last pass."""
    await world.write("b", out="b1")
    await world.write("a", out="a1")
    await world.states.delete_unit(TERRAFORM, UnitId("a"))
    await world.set_edges([AB])
    assert await world.graph.flush() is Outcome.DONE
    other = world.restarted()
    assert await other.graph.reconcile() is Outcome.DONE
    since = world.clock.now()
    world.clock.advance(5)
    await world.states.undelete_unit(TERRAFORM, UnitId("a"))
    assert await world.committed() == {AB: "unknown"}
    assert await other.graph.reconcile(since) is Outcome.DONE
    assert await world.committed() == {AB: "pending"}


async def test_writes_of_units_outside_the_graph_are_dropped(world: World) -> None:
    """Writes when there is no graph, or of units no edge names, change nothing."""
    await world.write("x", out="1")
    assert await world.graph.flush() is Outcome.DONE
    assert world.graph.queued == 0
    status = await world.graph.unit_status(SYSTEM_CALLER, UnitId("x"))
    assert (status.status, status.incoming) == (Colour.GREEN, None)
    await chain(world)
    versions = len(await world.store.list_versions(GRAPH_UNIT))
    await world.write("x", out="2")
    assert await world.graph.flush() is Outcome.DONE
    assert len(await world.store.list_versions(GRAPH_UNIT)) == versions


async def test_colour_changes_are_published(world: World) -> None:
    """Each committed colour change is an event: b and c leave green, then come back."""
    await chain(world)
    await world.write("a", out="a2")
    await world.graph.flush()
    assert world.recorder.status_changes() == [("b", "green", "red"), ("c", "green", "yellow")]
    await world.write("b", out="b2")
    await world.graph.flush()
    await world.write("c", out="c2")
    await world.graph.flush()
    assert world.recorder.status_changes()[2:] == [
        ("b", "red", "green"),
        ("c", "yellow", "red"),
        ("c", "red", "green"),
    ]


async def test_an_unknown_unit_is_not_found(world: World) -> None:
    """A status for an ID no unit has and no edge names is a typo: UnitNotFound."""
    await chain(world)
    with pytest.raises(UnitNotFound):
        await world.graph.unit_status(SYSTEM_CALLER, UnitId("nope"))


class OnlyUnits:
    """``AccessControl`` allowing reads of some units only."""

    def __init__(self, readable: set[str]) -> None:
        self.readable = readable

    async def check(self, principal: Principal, action: str, resource: str) -> object:
        if resource not in self.readable:
            raise PermissionDenied(action, resource, "not in the test's list")
        return None

    async def filter(
        self, principal: Principal, action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        return [item for item in items if key(item) in self.readable]

    async def read_access(self, principal: Principal, unit_id: str) -> ReadAccess:
        await self.check(principal, "unit.read_outputs", unit_id)
        return ReadAccess.FULL


BOB = Caller(Principal(subject="bob", kind=PrincipalKind.USER), Surface.API)


async def test_views_show_only_what_the_caller_may_read(world: World) -> None:
    """Bob reads b and c only: a is neither listed nor named, though b is
    still red because of it; a's own status is refused and audited."""
    await chain(world)
    await world.write("a", out="a2")
    await world.graph.flush()
    world.states.access = OnlyUnits({"b", "c"})
    listed = await world.graph.statuses(BOB)
    assert [(s.unit_id, s.status.value) for s in listed] == [("b", "red"), ("c", "yellow")]
    b = listed[0]
    assert b.incoming == () and b.offender is None
    assert b.summary.incoming_pending == 1
    assert listed[1].offender == "b"
    view = await world.graph.view(BOB)
    assert [n.unit_id for n in view.nodes] == ["b", "c"]
    assert [(e.from_unit_id, e.to_unit_id) for e in view.edges] == [("b", "c")]
    with pytest.raises(PermissionDenied):
        await world.graph.unit_status(BOB, UnitId("a"))
    assert any(isinstance(e, AccessDenied) for e in world.recorder.events)


async def test_statuses_by_prefix_and_one_units_neighbourhood(world: World) -> None:
    """statuses(prefix) lists the graph's units under the prefix; view(unit)
    the edges from and to one unit."""
    await world.write("team/a", out="1")
    await world.write("team/b", out="1")
    await world.write("other/c", out="1")
    await world.set_edges([("team/a", "out", "team/b"), ("team/b", "out", "other/c")])
    await world.graph.flush()
    assert [s.unit_id for s in await world.graph.statuses(SYSTEM_CALLER, "team/")] == [
        "team/a",
        "team/b",
    ]
    view = await world.graph.view(SYSTEM_CALLER, UnitId("other/c"))
    assert [(e.from_unit_id, e.to_unit_id) for e in view.edges] == [("team/b", "other/c")]
    assert [n.unit_id for n in view.nodes] == ["other/c", "team/b"]


async def test_the_worker_applies_writes_and_waits_out_a_lock(world: World) -> None:
    """run(): a write lands without anyone calling flush; with the graph unit
    locked it waits, and the release wakes it."""
    async with anyio.create_task_group() as tg:
        await chain(world)
        await tg.start(world.graph.run)
        await world.write("a", out="a2")

        async def a_applied() -> bool:
            return (await world.committed())[AB] == "pending"

        async def b_applied() -> bool:
            return (await world.committed())[BC] == "pending"

        with anyio.fail_after(5):
            await world.recorder.until(a_applied)
        await world.lock_graph()
        await world.write("b", out="b2")
        with anyio.fail_after(5):  # the worker tries, meets the lock, keeps the write
            while await world.graph.next_pass() is not Outcome.BLOCKED:
                pass
        assert world.graph.queued == 1
        assert (await world.committed())[BC] == "ok"
        await world.unlock_graph()
        with anyio.fail_after(5):
            await world.recorder.until(b_applied)
        tg.cancel_scope.cancel()


async def test_a_corrupt_graph_is_green_everywhere(world: World) -> None:
    """A graph state that is not a state answers green with no incoming list."""
    await world.write("a", out="1")
    await world.states.upload(
        SYSTEM_CALLER, GRAPH_UNIT, json.dumps({"serial": 1, "resources": 7}).encode(),
        create_missing=True,
    )  # fmt: skip
    assert await world.graph.flush() is Outcome.DONE
    status = await world.graph.unit_status(SYSTEM_CALLER, UnitId("a"))
    assert status.status is Colour.GREEN
