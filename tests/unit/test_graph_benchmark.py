"""The graph status benchmark runs end to end on a small graph (no timing asserts)."""

from __future__ import annotations

from benchmarks import graph_status


def test_benchmark_runs_and_reports() -> None:
    """A small run measures every figure and the report names each of them."""
    results = graph_status.run(units=60, edges=200, repeat=1, seed=3)
    assert results["edges"] == 200
    assert sum(results["colours"].values()) == results["units"]
    report = graph_status.report(results)
    for name in ("baseline_scan", "build_and_status_every_unit", "one_write_rules_and_rewrite"):
        assert name in report
    assert graph_status.main(["--units", "30", "--edges", "60", "--repeat", "1", "--check"]) == 0
