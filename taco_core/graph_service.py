"""The dependency graph's use cases: keeping it up to date, and what needs re-applying.

Keeping it up to date, without ever losing an update or slowing a write:

- Every committed state (``StateCommitted``, whatever the surface: backend,
  management API, restore, S3, TFE) is queued here, in the request, in commit
  order; nothing else happens in the request. ``run`` (a background task)
  applies the queue to the graph unit's current state with the reference's
  rules (``graph_rules.apply_updates``) and commits the result through
  ``StateService`` as the system, on the condition that the graph's head is
  still the version it read (``expected_head``), so a concurrent commit is
  never overwritten. The queue is kept until its writes land.
- The graph unit's lock is honoured, not bypassed: while someone holds it
  (Terraform applying the graph's configuration), nothing is committed; the
  release (``LockReleased``) or a retry timer wakes the worker. A commit that
  races another makes the worker read the new head and apply the queue again.
- A write to the graph unit by anyone else (Terraform adding an edge) is seen
  as a new head the service did not write: its fresh edges are seeded from the
  current states of their ends (``GraphWrite``), in the same rewrite as the
  queued writes.
- The queue lives in memory, so a restart loses it; writes committed by other
  replicas sharing the storage never reach it. ``run`` therefore starts by
  reconciling (``graph_reconcile``): every unit the graph names is compared
  from its current state; it does so again every ``reconcile_interval`` for
  the units written since the last time.

Answering: a ``GraphIndex`` is built once per version of the graph unit and
kept. While writes of this process are queued but not yet committed (or the
graph's head has fresh edges not yet seeded), an answer lays them over the
head, so a status read right after a write sees that write; it waits for a
flush in progress for at most ``read_timeout``. Views show only the units the
caller may read (``unit.read_outputs``), with colours from the whole graph; an
edge's digests are shown only to callers who may read its source's whole state
(``unit.read``), since a digest of a sensitive output is a way to test guesses
of its value.

Colour changes between committed versions of the graph are published as
``UnitStatusChanged`` events (webhooks listen to them).
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import anyio
import anyio.abc
import anyio.to_thread
import attrs
from attrs import define, frozen

from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.errors import (
    ConcurrentUpdate,
    InvalidInput,
    LockConflict,
    StateRejected,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.events import (
    Event,
    LockReleased,
    StateCommitted,
    UnitDeleted,
    UnitStatusChanged,
    UnitUndeleted,
)
from taco_core.graph import GRAPH_UNIT, Edge, Graph, read_graph
from taco_core.graph_reconcile import UnitHead, reconcile_edges
from taco_core.graph_rewrite import rewrite_graph_state
from taco_core.graph_rules import (
    GraphWrite,
    UnitOutputs,
    UnitWrite,
    apply_updates,
    apply_writes,
    read_outputs,
    units_to_seed,
)
from taco_core.graph_status import ColourChange, GraphIndex, GraphView, UnitStatus, colour_changes
from taco_core.model import StateVersion, Surface, UnitId
from taco_core.rbac import Action
from taco_core.service import StateService
from taco_core.unit_id import parse_unit_id

T = TypeVar("T")

# Another replica's commits carry its clock's time: a periodic reconciliation
# looks this far back before the previous one started.
RECONCILE_OVERLAP = timedelta(minutes=2)
# States and graphs bigger than this are parsed in a worker thread, so the
# event loop keeps serving other requests.
_INLINE_BYTES = 256 * 1024
_INLINE_EDGES = 2_000
# How many states are read at once while reconciling or seeding.
_READ_CONCURRENCY = 8
# How many versions of the graph written by someone else since the service
# last processed it are seeded one by one (more only while it was down).
_MAX_STEPS = 8
# How many older versions of a unit the reconciliation reads to date a value.
_HISTORY_LIMIT = 20

_NO_GRAPH = GraphIndex(None)


class Outcome(StrEnum):
    """What one pass of the worker achieved."""

    DONE = "done"  # the graph holds every write queued when the pass began
    BLOCKED = "blocked"  # the graph unit is locked by someone: try again when released
    RETRY = "retry"  # the graph unit changed while the pass worked: try again now


@define
class _Queued:
    """A committed write not yet applied to the graph; ``outputs`` is read
    from that version's bytes when first needed."""

    seq: int
    unit_id: str
    number: int
    at: datetime
    outputs: UnitOutputs | None = None


@frozen
class _Loaded:
    """One version of the graph unit, read and parsed once."""

    version: StateVersion
    data: bytes
    graph: Graph | None
    index: GraphIndex

    @property
    def key(self) -> tuple[int, str]:
        return (self.version.number, self.version.sha256)

    @property
    def units(self) -> frozenset[str]:
        return frozenset(self.index.units)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(e.id for e in self.index.edges)


def _parse(data: bytes) -> tuple[Graph | None, GraphIndex]:
    graph = read_graph(data)
    return graph, GraphIndex.from_graph(graph)


async def _maybe_in_thread(big: bool, fn: Callable[..., T], *args: object) -> T:
    if big:
        return await anyio.to_thread.run_sync(fn, *args)
    return fn(*args)


async def _outputs_of(data: bytes) -> UnitOutputs:
    return await _maybe_in_thread(len(data) > _INLINE_BYTES, read_outputs, data)


class GraphService:
    """The dependency graph of the units of one ``StateService``.

    Subscribe it to the service's event bus (it is an ``EventSink``) and run
    ``run()`` as a background task for as long as the service serves;
    ``flush`` and ``reconcile`` are one pass of that work, for tests and for
    the CLI's embedded mode. ``on_error(message, exc)`` receives the worker's
    failures (the composition root logs them); the worker retries after them.
    """

    def __init__(
        self,
        states: StateService,
        *,
        reconcile_interval: float | None = 60.0,
        retry_delay: float = 0.25,
        max_retry_delay: float = 10.0,
        read_timeout: float = 2.0,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self.states = states
        self.reconcile_interval = reconcile_interval
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.read_timeout = read_timeout
        self._on_error = on_error
        self._queue: deque[_Queued] = deque()
        self._seq = 0
        self._wake = anyio.Event()
        # Held by a pass from reading the head until its commit is recorded,
        # and by answers that lay the queue over the head, so an answer never
        # sees a commit of this process without the queue trimmed to match.
        self._lock = anyio.Lock()
        self._loading = anyio.Lock()
        self._cache: dict[tuple[int, str], _Loaded] = {}
        # The last graph version a pass brought up to date (its edge IDs are
        # the ``known_ids`` of the next write by someone else).
        self._processed: _Loaded | None = None
        # The last committed version whose colours were published.
        self._baseline: _Loaded | None = None
        self._ours: deque[tuple[int, str]] = deque(maxlen=32)
        # The newest version of each unit applied so far (see ``_writes``).
        self._applied: dict[str, int] = {}
        # The units the graph names that had a state at the last reconciliation.
        self._live: frozenset[str] | None = None
        self._overlaid: tuple[tuple[object, ...], GraphIndex] | None = None
        self._statuses: tuple[GraphIndex, list[UnitStatus]] | None = None
        # What the worker's latest pass achieved (``None``: it failed).
        self.last_outcome: Outcome | None = None
        self._pass_done = anyio.Event()

    # -- events ------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Queue a committed write (``EventSink``); never does I/O."""
        if isinstance(event, StateCommitted):
            if event.unit_id != GRAPH_UNIT:
                self._seq += 1
                version = event.version
                self._queue.append(_Queued(self._seq, event.unit_id, version.number, event.at))
            self._wake.set()
        elif isinstance(event, UnitDeleted):
            # A new incarnation of the ID numbers its versions from the start again.
            self._applied.pop(event.unit_id, None)
            if event.unit_id == GRAPH_UNIT:
                self._wake.set()
        elif isinstance(event, UnitUndeleted):
            # Its head is current again: edges declared, or changed by another
            # incarnation of the ID, while it was deleted must catch up with it.
            unit = event.unit
            self._applied.pop(unit.id, None)
            if unit.id != GRAPH_UNIT and unit.head is not None:
                self._seq += 1
                self._queue.append(_Queued(self._seq, unit.id, unit.head, event.at))
            self._wake.set()
        elif isinstance(event, LockReleased) and event.unit_id == GRAPH_UNIT:
            self._wake.set()

    @property
    def queued(self) -> int:
        """How many committed writes wait to be applied to the graph."""
        return len(self._queue)

    # -- the worker --------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the graph up to date until cancelled: reconcile first (catching
        up with writes no process applied), then apply the queue whenever a
        write arrives, waiting while the graph unit is locked, and reconcile
        again every ``reconcile_interval`` seconds."""
        task_status.started()
        since: datetime | None = None
        next_reconcile = anyio.current_time()
        delay = self.retry_delay
        while True:
            self._wake = anyio.Event()
            due = anyio.current_time() >= next_reconcile
            started = self.states.clock.now()
            try:
                outcome = await (self.reconcile(since) if due else self.flush())
            except Exception as exc:  # storage down, a state that cannot be read ...
                self._report("could not update the dependency graph; retrying", exc)
                outcome = None
            self.last_outcome = outcome
            done, self._pass_done = self._pass_done, anyio.Event()
            done.set()
            if outcome is Outcome.DONE:
                delay = self.retry_delay
                if due:
                    since = started - RECONCILE_OVERLAP
                    interval = self.reconcile_interval
                    next_reconcile = anyio.current_time() + interval if interval else math.inf
                wait = next_reconcile - anyio.current_time()
            elif outcome is Outcome.RETRY:
                continue
            else:
                wait = min(delay, next_reconcile - anyio.current_time())
                delay = min(delay * 2, self.max_retry_delay)
            with anyio.move_on_after(max(wait, 0.0)):
                await self._wake.wait()

    async def next_pass(self) -> Outcome | None:
        """Wait for the worker's next pass to end; what it achieved."""
        await self._pass_done.wait()
        return self.last_outcome

    async def flush(self) -> Outcome:
        """One pass: apply every queued write (and seed fresh edges of a graph
        written by someone else) to the graph's head, and commit it."""
        async with self._lock:
            return await self._pass(None)

    async def reconcile(self, since: datetime | None = None) -> Outcome:
        """A pass that also brings every edge up to date with the current
        states of the units the graph names (those committed after ``since``,
        or all of them), catching up with writes the queue never held."""
        loaded = await self._head()
        if loaded is None or loaded.graph is None:
            return await self.flush()
        units = loaded.units | (self._processed.units if self._processed else frozenset())
        heads, live = await self._unit_heads(units, since, loaded.graph.edges)
        async with self._lock:
            outcome = await self._pass(heads)
        if outcome is Outcome.DONE:
            self._live = live
        return outcome

    async def _pass(self, heads: Mapping[str, tuple[int, UnitHead]] | None) -> Outcome:
        queued = list(self._queue)
        last_seq = queued[-1].seq if queued else 0
        found = await self._head_and_lock()
        if found is None:
            # No graph: nothing to update. Edges written later are seeded then.
            self._trim(last_seq)
            self._processed = self._baseline = None
            return Outcome.DONE
        loaded, locked = found
        await self._observe(loaded)
        settled = self._settled(loaded)
        if loaded.graph is None or (not queued and not heads and settled):
            self._trim(last_seq)
            if settled:
                self._processed = loaded
            return Outcome.DONE
        relevant = loaded.units | (self._processed.units if self._processed else frozenset())
        writes, newest = await self._writes(queued, relevant)
        if locked:
            return Outcome.BLOCKED
        # A state read for the reconciliation before a write that is queued
        # (or already applied) is older than it: it must not undo it.
        current = {
            unit: head
            for unit, (number, head) in (heads or {}).items()
            if number >= newest.get(unit, -1)
        }
        graph_writes = [] if settled else await self._graph_writes(loaded)
        graph = loaded.graph
        changes = await _maybe_in_thread(
            len(graph.edges) > _INLINE_EDGES, _changes, graph, writes, graph_writes, current
        )
        data = await _maybe_in_thread(
            len(loaded.data) > _INLINE_BYTES, rewrite_graph_state, loaded.data, graph, changes
        )
        if data is None:
            self._processed = loaded
            self._applied = newest
            self._trim(last_seq)
            return Outcome.DONE
        try:
            result = await self.states.upload(
                SYSTEM_CALLER, GRAPH_UNIT, data, expected_head=loaded.version.number
            )
        except LockConflict:
            return Outcome.BLOCKED
        except ConcurrentUpdate:
            return Outcome.RETRY
        except StateRejected as exc:
            # Cannot happen to a serial raised on the head it was read from;
            # if it does, retrying would only quarantine the same bytes again.
            self._report("the dependency graph update was refused; dropped", exc)
            self._trim(last_seq)
            return Outcome.DONE
        new_graph = graph.with_changes(changes)
        index = await _maybe_in_thread(
            len(graph.edges) > _INLINE_EDGES, GraphIndex, new_graph.edges
        )
        committed = _Loaded(result.version, data, new_graph, index)
        self._remember(committed)
        self._ours.append(committed.key)
        self._processed = committed
        self._applied = newest
        self._trim(last_seq)
        await self._publish_changes(colour_changes(loaded.index, committed.index))
        self._baseline = committed
        return Outcome.DONE

    def _trim(self, last_seq: int) -> None:
        while self._queue and self._queue[0].seq <= last_seq:
            self._queue.popleft()

    def _settled(self, loaded: _Loaded) -> bool:
        """Whether the head's fresh edges need no seeding: a graph service
        wrote it, or this one already brought it up to date."""
        if loaded.version.surface == Surface.SYSTEM:
            return True
        return self._processed is not None and self._processed.key == loaded.key

    async def _writes(
        self, queued: Sequence[_Queued], relevant: Collection[str]
    ) -> tuple[list[UnitWrite], dict[str, int]]:
        """The queued writes of units the graph names, with their outputs, and
        the newest version number of each unit among them.

        Writes of other units change no edge; an edge added later that names
        one of them is seeded from the current states then. Two writes of one
        unit may be published out of order (each request publishes after its
        own commit): a version older than one already applied is left out,
        its effect superseded."""
        newest = dict(self._applied)
        wanted: list[_Queued] = []
        for q in queued:
            if q.unit_id in relevant and q.number > newest.get(q.unit_id, -1):
                newest[q.unit_id] = q.number
                wanted.append(q)

        async def resolve(q: _Queued) -> None:
            try:
                _, data = await self.states.store.read_version(UnitId(q.unit_id), q.number)
            except VersionNotFound:
                # Pruned already (the graph was locked through many writes):
                # the unit's current state is the nearest that is left.
                found = await self.states.store.read_state(UnitId(q.unit_id))
                data = found[1] if found is not None else b""
            q.outputs = await _outputs_of(data)

        await _gather([q for q in wanted if q.outputs is None], resolve, UnitNotFound)
        writes = [UnitWrite(q.unit_id, q.outputs, q.at) for q in wanted if q.outputs is not None]
        return writes, newest

    async def _graph_writes(self, loaded: _Loaded) -> list[GraphWrite]:
        """What seeding the fresh edges of graph versions written by someone
        else needs, one step per such version since the last one a graph
        service processed (oldest first, the head last): each edge is seeded
        from the states of its ends as they were when the version that added
        it was committed, so a write committed after that (applied after the
        seeding) can still make the new edge pending."""
        assert loaded.graph is not None
        base, steps = await self._unseen_versions(loaded)
        head_ids = loaded.ids
        result: list[GraphWrite] = []
        seen = base
        for at, ids in steps:
            known = head_ids - (ids - seen)
            seen = ids
            seeds = units_to_seed(loaded.graph.edges, known)
            states = await self._outputs_at(seeds, at)
            result.append(GraphWrite(states=states, known_ids=known, at=at))
        return result

    async def _unseen_versions(
        self, loaded: _Loaded
    ) -> tuple[frozenset[str], list[tuple[datetime, frozenset[str]]]]:
        """The edge IDs of the last graph version a graph service processed,
        and when each version written since by someone else was committed,
        with its edge IDs (oldest first; the head last).

        The base is this process's last processed version, else (after a
        restart) the newest version a graph service wrote; without one, the
        edges that have digests count as seen. At most ``_MAX_STEPS``
        versions are told apart; older ones count as the oldest of those."""
        processed = self._processed
        unseen: list[StateVersion] = []
        base_version: StateVersion | None = None
        for version in await self.states.store.list_versions(GRAPH_UNIT):
            if version.number > loaded.version.number or version.quarantined:
                continue
            if processed is not None and version.number <= processed.version.number:
                break
            if version.number < loaded.version.number and version.surface == Surface.SYSTEM:
                base_version = version
                break
            unseen.append(version)
        if not unseen or unseen[0].number != loaded.version.number:
            unseen.insert(0, loaded.version)
        unseen = unseen[:_MAX_STEPS]
        unseen.reverse()
        base: frozenset[str] | None = None
        if base_version is not None:
            base = await self._ids_of(base_version)
        elif processed is not None:
            base = processed.ids
        if base is None:
            base = frozenset(e.id for e in loaded.index.edges if e.in_digest or e.out_digest)
        steps: list[tuple[datetime, frozenset[str]]] = []
        for version in unseen:
            ids = loaded.ids if version.number == loaded.version.number else None
            if ids is None:
                ids = await self._ids_of(version)
            steps.append((version.created, ids if ids is not None else frozenset()))
        return base, steps

    async def _ids_of(self, version: StateVersion) -> frozenset[str] | None:
        """The edge IDs of one version of the graph unit (``None``: not kept,
        or not a graph)."""
        try:
            _, data = await self.states.store.read_version(GRAPH_UNIT, version.number)
        except VersionNotFound:
            return None
        graph = await _maybe_in_thread(len(data) > _INLINE_BYTES, read_graph, data)
        return frozenset(e.id for e in graph.edges) if graph is not None else None

    async def _outputs_at(self, units: Iterable[str], at: datetime) -> dict[str, UnitOutputs]:
        """The outputs of each unit's version that was current at ``at``, for
        the units that had one: the current state, unless it was committed
        later (then the history says what it was)."""
        found: dict[str, UnitOutputs] = {}

        async def read(unit: str) -> None:
            unit_id = parse_unit_id(unit)
            state = await self.states.store.read_state(unit_id)
            if state is None:
                return
            version, data = state
            if version.created <= at:
                found[unit] = await _outputs_of(data)
                return
            for older in await self.states.store.list_versions(unit_id):
                if not older.quarantined and older.created <= at:
                    _, data = await self.states.store.read_version(unit_id, older.number)
                    found[unit] = await _outputs_of(data)
                    return

        await _gather(sorted(units), read, UnitNotFound, InvalidInput, VersionNotFound)
        return found

    async def _unit_heads(
        self, units: Collection[str], since: datetime | None, edges: Sequence[Edge]
    ) -> tuple[dict[str, tuple[int, UnitHead]], frozenset[str]]:
        """The current state (version number, head) of each of ``units``
        committed after ``since``, or with a state now but not at the last
        reconciliation (undeleted: that changes no update time); an output an
        edge records another digest of, or whose edge waits for its consumer,
        is dated from the unit's history. Also which of ``units`` have a state."""
        heads: dict[str, tuple[int, UnitHead]] = {}
        listed = [
            u for u in await self.states.store.list_units() if u.id in units and u.head is not None
        ]
        before = self._live
        changed = [
            u.id
            for u in listed
            if since is None or u.updated > since or (before is not None and u.id not in before)
        ]
        recorded: dict[str, list[Edge]] = {}
        for edge in edges:
            recorded.setdefault(edge.from_unit_id, []).append(edge)

        async def read(unit: str) -> None:
            state = await self.states.store.read_state(UnitId(unit))
            if state is None:
                return
            version, data = state
            head = UnitHead(await _outputs_of(data), version.created)
            names = {
                e.from_output
                for e in recorded.get(unit, ())
                if head.outputs.digest(e.from_output) != e.in_digest or e.out_digest != e.in_digest
            }
            if names:
                head = await self._dated(UnitId(unit), version, head, names)
            heads[unit] = (version.number, head)

        await _gather(changed, read, UnitNotFound)
        return heads, frozenset(u.id for u in listed)

    async def _dated(
        self, unit_id: UnitId, current: StateVersion, head: UnitHead, names: Collection[str]
    ) -> UnitHead:
        """``head`` with the time each of ``names`` took its current value (or
        went missing): the oldest version of the run of versions, back from
        the current one, that have it. At most ``_HISTORY_LIMIT`` versions
        are read; past them the oldest read stands in (a later time, which
        can only keep an edge pending)."""
        digests = {name: head.outputs.digest(name) for name in names}
        since = dict.fromkeys(names, current.created)
        open_names = set(names)
        read = 0
        for version in await self.states.store.list_versions(unit_id):
            if version.quarantined or version.number >= current.number:
                continue
            if read >= _HISTORY_LIMIT:
                break
            read += 1
            try:
                _, data = await self.states.store.read_version(unit_id, version.number)
            except VersionNotFound:
                break
            older = await _outputs_of(data)
            for name in list(open_names):
                if older.digest(name) == digests[name]:
                    since[name] = version.created
                else:
                    open_names.discard(name)
            if not open_names:
                break
        return attrs.evolve(head, since=since)

    # -- the graph's head --------------------------------------------------

    async def _head(self) -> _Loaded | None:
        found = await self._head_and_lock()
        return found[0] if found is not None else None

    async def _head_and_lock(self) -> tuple[_Loaded, bool] | None:
        """The graph unit's current version, parsed, and whether it is locked;
        ``None`` when there is no graph unit or it has no state."""
        for _ in range(3):
            try:
                unit, head = await self.states.store.unit_and_head(GRAPH_UNIT)
            except UnitNotFound:
                return None
            if head is None:
                return None
            try:
                return await self._load(head), unit.lock is not None
            except VersionNotFound:
                continue  # pruned between the two reads: read the new head
        raise ConcurrentUpdate(GRAPH_UNIT)

    async def _load(self, version: StateVersion) -> _Loaded:
        key = (version.number, version.sha256)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        async with self._loading:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            _, data = await self.states.store.read_version(GRAPH_UNIT, version.number)
            graph, index = await _maybe_in_thread(len(data) > _INLINE_BYTES, _parse, data)
            loaded = _Loaded(version, data, graph, index)
            self._remember(loaded)
            return loaded

    def _remember(self, loaded: _Loaded) -> None:
        # The newest two versions: the head, and the one a pass may still be reading.
        self._cache[loaded.key] = loaded
        while len(self._cache) > 2:
            oldest = min(self._cache.values(), key=lambda v: v.version.number)
            del self._cache[oldest.key]

    async def _observe(self, loaded: _Loaded) -> None:
        """Publish the colour changes a graph version brings that nobody
        published yet: those of a version written by Terraform or the API
        (versions of a graph service were published by whoever wrote them)."""
        baseline, self._baseline = self._baseline, loaded
        if baseline is None or baseline.key == loaded.key:
            return
        if loaded.version.surface == Surface.SYSTEM or loaded.key in self._ours:
            return
        await self._publish_changes(colour_changes(baseline.index, loaded.index))

    async def _publish_changes(self, changes: Sequence[ColourChange]) -> None:
        now = self.states.clock.now()
        for change in changes:
            await self.states.events.publish(
                UnitStatusChanged(
                    caller=SYSTEM_CALLER,
                    at=now,
                    unit_id=change.unit_id,
                    before=change.before,
                    after=change.after,
                    cause=change.cause,
                )
            )

    def _report(self, message: str, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(message, exc)

    # -- answers -----------------------------------------------------------

    async def current_index(self) -> GraphIndex:
        """The colours as of every write this process has committed: the
        graph's head, with queued writes and unseeded fresh edges laid over it.
        Waits at most ``read_timeout`` for a pass in progress; past that, the
        head as it is."""
        loaded = await self._head()
        if loaded is None:
            return _NO_GRAPH
        if not self._queue and self._settled(loaded):
            return loaded.index
        with anyio.move_on_after(self.read_timeout):
            async with self._lock:
                return await self._overlay()
        return loaded.index

    async def _overlay(self) -> GraphIndex:
        loaded = await self._head()
        if loaded is None:
            return _NO_GRAPH
        graph = loaded.graph
        queued = list(self._queue)
        settled = self._settled(loaded)
        if graph is None or (not queued and settled):
            return loaded.index
        key = (loaded.key, queued[0].seq if queued else 0, queued[-1].seq if queued else 0)
        if self._overlaid is not None and self._overlaid[0] == key:
            return self._overlaid[1]
        relevant = loaded.units | (self._processed.units if self._processed else frozenset())
        writes, _ = await self._writes(queued, relevant)
        graph_writes = [] if settled else await self._graph_writes(loaded)
        big = len(graph.edges) > _INLINE_EDGES
        changes = await _maybe_in_thread(big, _changes, graph, writes, graph_writes, None)
        index = loaded.index
        if changes:
            index = await _maybe_in_thread(big, GraphIndex, graph.with_changes(changes).edges)
        self._overlaid = (key, index)
        return index

    async def _allowed(self, caller: Caller, action: Action, units: Iterable[str]) -> set[str]:
        """The units of ``units`` the caller may ``action`` (the evaluator
        every use case asks, in bulk)."""
        if caller.is_system:
            return set(units)
        return set(await self.states.access.filter(caller.principal, action, units, _identity))

    async def _visible(self, caller: Caller, units: Iterable[str]) -> set[str]:
        """The units whose colour and edges the caller may see."""
        return await self._allowed(caller, Action.UNIT_READ_OUTPUTS, units)

    async def _with_digests(self, caller: Caller, sources: Iterable[str]) -> set[str]:
        """The sources whose edges' digests the caller may see."""
        return await self._allowed(caller, Action.UNIT_READ, sources)

    async def _known_unit(self, caller: Caller, unit_id: UnitId, index: GraphIndex) -> None:
        """Refuse a unit the caller may not read, and one that neither exists
        nor is named by an edge (a typo), with ``UnitNotFound``."""
        await self.states.authorize(caller, Action.UNIT_READ_OUTPUTS, unit_id)
        units = index.units
        at = bisect.bisect_left(units, unit_id)
        if at == len(units) or units[at] != unit_id:
            await self.states.store.get_unit(unit_id)

    def _all_statuses(self, index: GraphIndex) -> list[UnitStatus]:
        if self._statuses is None or self._statuses[0] is not index:
            self._statuses = (index, index.statuses())
        return self._statuses[1]

    async def unit_status(self, caller: Caller, unit_id: UnitId) -> UnitStatus:
        """The reference's status of one unit (``UnitNotFound`` if no unit has
        the ID and no edge names it; ``PermissionDenied`` without
        ``unit.read_outputs`` on it). Incoming edges from units the caller may
        not read are left out, and the digests of those from units it may read
        only the outputs of; the colour and summary count every edge."""
        index = await self.current_index()
        await self._known_unit(caller, unit_id, index)
        status = index.status(unit_id)
        names = [e.from_unit_id for e in status.incoming or ()]
        if status.offender:
            names.append(status.offender)
        visible = await self._visible(caller, names)
        return _redacted(status, visible, await self._with_digests(caller, visible))

    async def statuses(self, caller: Caller, prefix: str = "") -> list[UnitStatus]:
        """The status of every unit the graph names whose ID starts with
        ``prefix`` and which the caller may read, sorted by ID. (A unit no
        edge names is green.)"""
        index = await self.current_index()
        everything = self._all_statuses(index)
        if prefix:
            start = bisect.bisect_left(index.units, prefix)
            end = bisect.bisect_left(index.units, prefix + "\U0010ffff")
            everything = everything[start:end]
        if caller.is_system:
            return list(everything)
        visible = await self._visible(caller, index.units)
        full = await self._with_digests(caller, visible)
        return [_redacted(s, visible, full) for s in everything if s.unit_id in visible]

    async def view(self, caller: Caller, unit_id: UnitId | None = None) -> GraphView:
        """The whole graph with every unit's colour (or, for ``unit_id``, the
        edges from and to it and the units at their ends), limited to units
        the caller may read and edges between two of them (digests as in
        ``unit_status``)."""
        index = await self.current_index()
        if unit_id is not None:
            await self._known_unit(caller, unit_id, index)
            near: set[str] = {unit_id}
            for edge in (*index.incoming(unit_id), *index.outgoing(unit_id)):
                near.update((edge.from_unit_id, edge.to_unit_id))
            units: list[str] = sorted(near)
        else:
            units = list(index.units)
        visible = await self._visible(caller, units)
        full = await self._with_digests(caller, visible)
        view = index.view(visible.__contains__)
        edges = _masked(view.edges, full)
        if unit_id is None:
            return view if edges is view.edges else GraphView(view.nodes, edges)
        edges = tuple(e for e in edges if unit_id in (e.from_unit_id, e.to_unit_id))
        nodes = tuple(n for n in view.nodes if n.unit_id in visible)
        return GraphView(nodes, edges)

    def acting_as(self, caller: Caller) -> BoundDependencyGraph:
        """These views as the ``DependencyGraph`` port, on behalf of ``caller``."""
        return BoundDependencyGraph(self, caller)


class BoundDependencyGraph:
    """``GraphService``'s views as the ``DependencyGraph`` port, for one caller."""

    def __init__(self, service: GraphService, caller: Caller) -> None:
        self.service = service
        self.caller = caller

    async def unit_status(self, unit_id: UnitId) -> UnitStatus:
        return await self.service.unit_status(self.caller, unit_id)

    async def statuses(self, prefix: str = "") -> Sequence[UnitStatus]:
        return await self.service.statuses(self.caller, prefix)

    async def graph(self, unit_id: UnitId | None = None) -> GraphView:
        return await self.service.view(self.caller, unit_id)


def _changes(
    graph: Graph,
    writes: Sequence[UnitWrite],
    graph_writes: Sequence[GraphWrite],
    heads: Mapping[str, UnitHead] | None,
) -> dict[int, Edge]:
    """In commit order: each graph version written by someone else, with the
    queued writes committed before it applied first and its fresh edges
    seeded; then the queued writes committed after the last; then (when
    reconciling) the units' current states."""
    edges = graph.edges
    changes: dict[int, Edge] = {}
    remaining = list(writes)
    for graph_write in graph_writes:
        before = [w for w in remaining if w.at <= graph_write.at]
        remaining = [w for w in remaining if w.at > graph_write.at]
        step = apply_updates(_apply(edges, changes), before, graph_write)
        changes = _merged(edges, changes, step)
    changes = _merged(edges, changes, apply_writes(_apply(edges, changes), remaining))
    if heads:
        changes = _merged(edges, changes, reconcile_edges(_apply(edges, changes), heads))
    return changes


def _apply(edges: Sequence[Edge], changes: Mapping[int, Edge]) -> list[Edge]:
    return [changes.get(i, edge) for i, edge in enumerate(edges)]


def _merged(edges: Sequence[Edge], *steps: Mapping[int, Edge]) -> dict[int, Edge]:
    """Successive changes as one: index -> final edge, unchanged ones left out."""
    merged: dict[int, Edge] = {}
    for step in steps:
        merged.update(step)
    return {i: merged[i] for i in sorted(merged) if merged[i] != edges[i]}


def _redacted(status: UnitStatus, visible: Collection[str], full: Collection[str]) -> UnitStatus:
    """``status`` as a caller sees it who may see the units ``visible`` and
    the digests of edges from ``full``; the same object when nothing is hidden
    (answers reuse its rendering)."""
    incoming = status.incoming
    if incoming is not None:
        if any(e.from_unit_id not in visible for e in incoming):
            incoming = tuple(e for e in incoming if e.from_unit_id in visible)
        incoming = _masked(incoming, full)
    offender = status.offender if status.offender in visible else None
    if incoming is status.incoming and offender == status.offender:
        return status
    return attrs.evolve(status, incoming=incoming, offender=offender)


def _masked(edges: tuple[Edge, ...], full: Collection[str]) -> tuple[Edge, ...]:
    """``edges`` with the digests left out of those whose source is not in
    ``full``; the same tuple when there are none."""
    if all(e.from_unit_id in full or not (e.in_digest or e.out_digest) for e in edges):
        return edges
    return tuple(
        e
        if e.from_unit_id in full or not (e.in_digest or e.out_digest)
        else attrs.evolve(e, in_digest="", out_digest="")
        for e in edges
    )


def _identity(unit: str) -> str:
    return unit


async def _gather(
    items: Sequence[T], each: Callable[[T], Awaitable[None]], *skipped: type[Exception]
) -> None:
    """``await each(item)`` for every item, a few at a time; an item whose
    call raises one of ``skipped`` is left alone."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            with contextlib.suppress(*skipped):
                await each(item)

    async with anyio.create_task_group() as tg:
        for _ in range(min(_READ_CONCURRENCY, len(items))):
            tg.start_soon(worker)
