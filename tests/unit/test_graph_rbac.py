"""The dependency graph's views under the real RBAC evaluator: for generated
policies, what a caller sees of statuses and edges is exactly what the one
evaluator (``taco_core.rbac.decide``) allows, colours still come from the
whole graph, and the graph is kept up to date as the system whoever wrote."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taco_adapters.memory import MemoryRbacStore, MemoryStateStore
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.errors import PermissionDenied
from taco_core.graph import GRAPH_UNIT, Edge
from taco_core.graph_service import Outcome
from taco_core.model import Surface, UnitId
from taco_core.rbac import EMPTY_POLICY, Action, RbacPolicy, Rule, decide
from taco_core.rbac_policy import assign_role, create_permission, create_role
from taco_core.rbac_service import RbacService
from tests.unit.graph_world import World

UNITS = ["dev/net", "dev/app", "prod/db", "prod/app", "team/a/x"]
LINKS = [
    ("prod/db", "out", "dev/app"),
    ("dev/net", "out", "dev/app"),
    ("dev/app", "out", "prod/app"),
    ("prod/app", "out", "team/a/x"),
]
PATTERNS = ["*", "dev/*", "prod/*", "dev/app", "prod/db", "team/*/x", "team/*", "prod/app"]
ACTIONS = ["unit.read", "unit.read_outputs", "unit.write", "*"]
BOB = Caller(Principal(subject="bob", kind=PrincipalKind.USER), Surface.API)

rules = st.lists(
    st.builds(
        Rule,
        effect=st.sampled_from(["allow", "deny"]),
        actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2, unique=True),
        resources=st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True),
    ),
    min_size=1,
    max_size=4,
)


def policy_of(rule_sets: list[list[Rule]]) -> RbacPolicy:
    """Bob holds one role per rule set, each with one permission of those rules."""
    policy = EMPTY_POLICY
    for n, these in enumerate(rule_sets):
        policy = create_permission(policy, f"p{n}", these)
        policy = create_role(policy, f"r{n}", permissions=[f"p{n}"])
        policy = assign_role(policy, "bob", f"r{n}")
    return policy


async def graph_world() -> World:
    """prod/db changed after the edges were seeded: dev/app red, downstream yellow."""
    world = World(MemoryStateStore())
    for unit in UNITS:
        await world.write(unit, out=f"{unit}-1")
    await world.set_edges(LINKS)
    assert await world.graph.flush() is Outcome.DONE
    await world.write("prod/db", out="prod/db-2")
    assert await world.graph.flush() is Outcome.DONE
    return world


async def with_rbac(world: World, policy: RbacPolicy) -> RbacService:
    store = MemoryRbacStore()
    assert await store.save(policy, None)
    rbac = RbacService(store, world.clock)
    world.states.access = rbac
    return rbac


def masked(edge: Edge, policy: RbacPolicy, roles: tuple[str, ...]) -> Edge:
    """The edge as a caller with ``roles`` should see it."""
    if decide(policy, roles, Action.UNIT_READ, edge.from_unit_id).allowed:
        return edge
    return Edge(
        id=edge.id,
        from_unit_id=edge.from_unit_id,
        from_output=edge.from_output,
        to_unit_id=edge.to_unit_id,
        to_input=edge.to_input,
        status=edge.status,
        last_in_at=edge.last_in_at,
        last_out_at=edge.last_out_at,
    )


async def check_views(rule_sets: list[list[Rule]]) -> None:
    world = await graph_world()
    every = {s.unit_id: s for s in await world.graph.statuses(SYSTEM_CALLER)}
    whole = await world.graph.view(SYSTEM_CALLER)
    policy = policy_of(rule_sets)
    rbac = await with_rbac(world, policy)
    roles = await rbac.roles_of(BOB.principal)

    def readable(unit: str) -> bool:
        return decide(policy, roles, Action.UNIT_READ_OUTPUTS, unit).allowed

    listed = await world.graph.statuses(BOB)
    assert [s.unit_id for s in listed] == [u for u in sorted(every) if readable(u)]
    for unit, truth in every.items():
        if not readable(unit):
            with pytest.raises(PermissionDenied):
                await world.graph.unit_status(BOB, UnitId(unit))
            continue
        seen = await world.graph.unit_status(BOB, UnitId(unit))
        assert (seen.status, seen.summary) == (truth.status, truth.summary)
        assert seen.incoming == tuple(
            masked(e, policy, roles) for e in truth.incoming or () if readable(e.from_unit_id)
        )
        assert seen.offender == (truth.offender if readable(truth.offender or "") else None)
        assert seen in listed
    view = await world.graph.view(BOB)
    assert [n.unit_id for n in view.nodes] == [
        n.unit_id for n in whole.nodes if readable(n.unit_id)
    ]
    assert view.edges == tuple(
        masked(e, policy, roles)
        for e in whole.edges
        if readable(e.from_unit_id) and readable(e.to_unit_id)
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(rules, min_size=1, max_size=2))
def test_views_follow_the_one_evaluator(rule_sets: list[list[Rule]]) -> None:
    """For any policy: a unit is listed and its status answered exactly when
    the evaluator allows unit.read_outputs on it (else 403); its incoming edges
    are those from such units, with digests only where unit.read is allowed on
    the source; colours and summaries are the whole graph's."""
    anyio.run(check_views, rule_sets)


async def test_a_caller_without_roles_sees_nothing() -> None:
    """A subject with no roles: empty listings, and every status refused."""
    world = await graph_world()
    await with_rbac(world, policy_of([]))
    assert await world.graph.statuses(BOB) == []
    assert (await world.graph.view(BOB)).nodes == ()
    for unit in UNITS:
        with pytest.raises(PermissionDenied):
            await world.graph.unit_status(BOB, UnitId(unit))


async def test_the_graph_is_kept_by_the_system_for_any_writer() -> None:
    """A writer allowed dev/* only (no access to __opentaco_system) changes
    dev/net: the graph is still rewritten, by the system, and the writer may
    not write the graph unit itself."""
    world = await graph_world()
    allowed = [Rule("allow", ["unit.read", "unit.write"], ["dev/*"])]
    await with_rbac(world, policy_of([allowed]))
    ci = Caller(Principal(subject="bob", kind=PrincipalKind.API_TOKEN), Surface.BACKEND)
    before = await world.committed()
    doc = b'{"version":4,"serial":9,"lineage":"lineage-dev/net","outputs":{"out":{"value":"n2"}}}'
    await world.states.upload(ci, UnitId("dev/net"), doc)
    assert await world.graph.flush() is Outcome.DONE
    after = await world.committed()
    assert after[("dev/net", "out", "dev/app")] == "pending"
    assert before[("dev/net", "out", "dev/app")] == "ok"
    [commit] = world.recorder.graph_commits()[-1:]
    assert commit.caller.is_system
    with pytest.raises(PermissionDenied):
        await world.states.upload(ci, GRAPH_UNIT, b"{}")
    assert await world.committed() == after
