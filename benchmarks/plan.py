"""How much load each scenario sends: the full run and the ``--quick`` smoke run.

The full run is sized to finish well within 10 minutes on 2 cores: every cell
is capped both in requests and in seconds, so a slow machine measures fewer
requests instead of running longer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.states import KB, MB


@dataclass(frozen=True)
class Cell:
    """One load cell: ``concurrency`` workers, each at most ``per_worker``
    operations, none started after ``seconds``."""

    concurrency: int
    per_worker: int
    seconds: float
    # Targets compared in one cell alternate in this many slices.
    rounds: int = 1


@dataclass(frozen=True)
class Plan:
    name: str
    # state size -> cells, for GET and for POST
    io: dict[int, tuple[Cell, ...]]
    warmup: int
    cycle_one_unit: tuple[Cell, ...]
    cycle_spread: tuple[Cell, ...]
    spread_units: int
    list_sizes: tuple[int, ...]
    list_repeats: int
    prefix_repeats: int
    memory_state: int
    cold_starts: int
    history_state: int = 1 * MB
    history_versions: int = 100
    history_reads: int = 20
    scale_small: int = 1_000
    scale_large: int = 1_000_000
    scale_requests: int = 1000
    sqlite_count: dict[int, int] = field(default_factory=dict)
    # Bytes of distinct POST bodies prepared per state size.
    body_budget: int = 400 * MB
    # The dependency graph: its size, repeats of the in-process measures, and
    # the HTTP cell of GET /v1/status (every unit) and friends.
    graph_units: int = 10_000
    graph_edges: int = 50_000
    graph_repeat: int = 5
    graph_cell: Cell = Cell(1, 20, 20.0)


FULL = Plan(
    name="full",
    io={
        10 * KB: (Cell(1, 10_000, 3.0, 6), Cell(8, 2000, 3.0, 6), Cell(64, 250, 3.0, 3)),
        1 * MB: (Cell(1, 3000, 4.0, 4), Cell(8, 400, 4.0, 4), Cell(64, 50, 5.0, 2)),
        # 64 in-flight 50 MB states would measure memory pressure, not the service.
        50 * MB: (Cell(1, 8, 6.0), Cell(8, 2, 12.0)),
    },
    warmup=2,
    cycle_one_unit=(Cell(1, 600, 4.0), Cell(8, 150, 4.0)),
    cycle_spread=(Cell(1, 600, 4.0), Cell(8, 150, 4.0), Cell(64, 20, 5.0)),
    spread_units=1000,
    list_sizes=(10_000, 100_000),
    list_repeats=7,
    prefix_repeats=200,
    memory_state=100 * MB,
    cold_starts=5,
    sqlite_count={10 * KB: 1000, 1 * MB: 200, 50 * MB: 5},
)

QUICK = Plan(
    name="quick",
    io={
        10 * KB: (Cell(1, 50, 0.5), Cell(8, 10, 0.5)),
        1 * MB: (Cell(1, 10, 0.5), Cell(8, 2, 0.5)),
    },
    warmup=1,
    cycle_one_unit=(Cell(1, 30, 0.5), Cell(8, 5, 0.5)),
    cycle_spread=(Cell(8, 5, 0.5),),
    spread_units=50,
    list_sizes=(1_000,),
    list_repeats=3,
    prefix_repeats=10,
    memory_state=10 * MB,
    cold_starts=1,
    history_state=200 * KB,
    history_versions=20,
    history_reads=5,
    scale_large=20_000,
    scale_requests=20,
    sqlite_count={10 * KB: 50, 1 * MB: 10},
    body_budget=50 * MB,
    graph_units=1_000,
    graph_edges=5_000,
    graph_repeat=2,
    graph_cell=Cell(1, 3, 2.0),
)
