"""``python -m benchmarks.graph_status [--units N] [--edges M] [--check]``.

How long the dependency graph's status answers take on a large graph (by
default 10,000 units and 50,000 edges): building the ``GraphIndex`` once for a
graph version, then the status of every unit, one unit, a prefix and the whole
graph view. The baseline, measured in the same run, is one pass over the edges
reading each one's status: no status answer can cost less than looking at
every edge once, so the ratio shows what the index adds on top.

For context it also times what happens once per graph version or per write:
parsing the graph unit's state, and applying one unit write with the rewrite
of that state. ``--check`` exits 1 when building the index and answering every
unit takes a second or more (the budget in issue 11).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs

from taco_core.digest import edge_id, value_digest
from taco_core.graph import Edge, read_graph
from taco_core.graph_rewrite import rewrite_graph_state
from taco_core.graph_rules import UnitOutputs, apply_write
from taco_core.graph_status import GraphIndex

BUDGET_SECONDS = 1.0


def unit_name(index: int) -> str:
    return f"team-{index % 50:02d}/app-{index:05d}"


def make_edges(units: int, edges: int, rng: random.Random) -> list[Edge]:
    """A layered graph: each edge points from a unit to one a little further on,
    so chains run deep and yellow spreads far; 0.2% pending, 5% unknown."""
    made: list[Edge] = []
    digests = [value_digest(f"v{i}") for i in range(8)]
    for _ in range(edges):
        source = rng.randrange(units - 1)
        target = min(units - 1, source + 1 + int(rng.expovariate(1 / 20)))
        roll = rng.random()
        status = "pending" if roll < 0.002 else "unknown" if roll < 0.052 else "ok"
        digest = rng.choice(digests)
        output = f"out{rng.randrange(5)}"
        made.append(
            Edge(
                id=edge_id(unit_name(source), output, unit_name(target)),
                from_unit_id=unit_name(source),
                from_output=output,
                to_unit_id=unit_name(target),
                to_input=output,
                in_digest=digest if status != "unknown" else "",
                out_digest=digest if status == "ok" else "",
                status=status,
                last_in_at="2025-01-01T00:00:00Z",
                last_out_at="2025-01-01T00:00:00Z" if status == "ok" else "",
            )
        )
    return made


def state_bytes(edges: list[Edge]) -> bytes:
    """The graph unit's state as Terraform writes it (one resource per edge)."""
    resources: list[dict[str, Any]] = []
    for n, edge in enumerate(edges):
        attributes = {
            name: getattr(edge, name) or (None if name.startswith("last_") else "")
            for name in (f.name for f in attrs.fields(Edge))
        }
        resources.append(
            {
                "mode": "managed",
                "type": "opentaco_dependency",
                "name": f"e{n}",
                "provider": 'provider["registry.terraform.io/diggerhq/opentaco"]',
                "instances": [
                    {
                        "schema_version": 0,
                        "attributes": attributes,
                        "sensitive_attributes": [],
                        "private": "bnVsbA==",
                    }
                ],
            }
        )
    doc = {"version": 4, "terraform_version": "1.15.5", "serial": 1, "lineage": "bench",
           "outputs": {}, "resources": resources, "check_results": None}  # fmt: skip
    return json.dumps(doc, indent=2).encode() + b"\n"


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    """Wall seconds of ``repeat`` runs: best and median."""
    seconds: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {"best": min(seconds), "median": statistics.median(seconds)}


def run(units: int, edges: int, repeat: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    graph_edges = make_edges(units, edges, rng)
    index = GraphIndex(graph_edges)
    every_unit = index.units
    sample = rng.sample(every_unit, min(1000, len(every_unit)))
    data = state_bytes(graph_edges)
    parsed = read_graph(data)
    assert parsed is not None
    writer = parsed.edges[0].from_unit_id
    outputs = UnitOutputs({f"out{i}": f"changed-{i}" for i in range(5)})
    now = datetime.now(UTC)

    def baseline() -> int:
        return sum(1 for edge in graph_edges if edge.status == "pending")

    def build_and_answer_all() -> None:
        fresh = GraphIndex(graph_edges)
        for unit in fresh.units:
            fresh.status(unit)

    def one_write() -> bytes | None:
        return rewrite_graph_state(data, parsed, apply_write(parsed.edges, writer, outputs, now))

    results: dict[str, Any] = {
        "units": len(every_unit),
        "edges": len(graph_edges),
        "state_bytes": len(data),
        "colours": {
            colour: sum(1 for u in every_unit if index.colour(u).value == colour)
            for colour in ("green", "red", "yellow")
        },
        "baseline_scan": timed(baseline, repeat),
        "build_index": timed(lambda: GraphIndex(graph_edges), repeat),
        "status_every_unit": timed(lambda: [index.status(u) for u in every_unit], repeat),
        "build_and_status_every_unit": timed(build_and_answer_all, repeat),
        "status_one_unit_x1000": timed(lambda: [index.status(u) for u in sample], repeat),
        "status_prefix_team_07": timed(lambda: index.statuses("team-07/"), repeat),
        "whole_graph_view": timed(index.view, repeat),
        "parse_graph_state": timed(lambda: read_graph(data), max(1, repeat // 2)),
        "one_write_rules_and_rewrite": timed(one_write, max(1, repeat // 2)),
    }
    return results


def report(results: dict[str, Any]) -> str:
    base = results["baseline_scan"]["median"]
    lines = [
        f"graph: {results['units']} units, {results['edges']} edges, "
        f"state {results['state_bytes'] / 1e6:.1f} MB; colours {results['colours']}",
        f"{'measure':32} {'best ms':>10} {'median ms':>10} {'x baseline':>11}",
    ]
    for name, value in results.items():
        if isinstance(value, dict) and "median" in value:
            ratio = value["median"] / base if base else float("nan")
            lines.append(
                f"{name:32} {value['best'] * 1e3:10.1f} {value['median'] * 1e3:10.1f} {ratio:11.1f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.graph_status", description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 unless building the index and answering every unit "
        f"takes under {BUDGET_SECONDS:g} s",
    )
    args = parser.parse_args(argv)
    results = run(args.units, args.edges, args.repeat, args.seed)
    print(json.dumps(results, indent=2) if args.json else report(results))
    if args.check and results["build_and_status_every_unit"]["median"] >= BUDGET_SECONDS:
        print(f"over budget: {BUDGET_SECONDS:g} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
