"""The benchmark package's pure helpers (no servers, no timing asserts)."""

from __future__ import annotations

import json
import math

import pytest

import benchmarks
from benchmarks import report
from benchmarks.states import KB, MB, StateMaker, content_md5, size_label
from benchmarks.stats import percentile, ratio, summarize


def _summary(rps: float, p50: float, n: int = 100) -> dict[str, float]:
    return {"requests": n, "errors": 0, "seconds": n / rps, "rps": rps, "p50_ms": p50,
            "p99_ms": p50 * 2, "mean_ms": p50, "max_ms": p50 * 3}  # fmt: skip


def _result() -> dict[str, object]:
    """A run's result dict shaped as ``python -m benchmarks`` writes it."""
    io_cells = [
        {"op": op, "size": MB, "concurrency": c, "opentaco": _summary(o, 2.0),
         "bare": _summary(b, 1.0), "bare_sqlite": _summary(b / 2, 1.5),
         "ratio": o / b, "ratio_sqlite": o / (b / 2)}
        for op, c, o, b in (("GET", 1, 80.0, 100.0), ("POST", 1, 30.0, 100.0))
    ]  # fmt: skip
    scale_row = {"units": 1_000, "seed_seconds": 0.1, "ready_seconds": 0.4,
                 "prefix": _summary(500, 2.0), "get": _summary(1000, 1.0),
                 "post": _summary(200, 5.0)}  # fmt: skip
    listed = {"bytes": 1000, "listed": 100, "opentaco": _summary(10, 350.0),
              "bare": _summary(100, 3.0), "sqlite": _summary(100, 30.0)}  # fmt: skip
    rss = {"seconds": 1.0, "idle_rss": 40e6, "peak_rss": 250e6, "sampled_peak_rss": 250e6,
           "vm_hwm": 250e6, "samples": 9, "peak_ratio": 2.5, "growth_ratio": 2.1}  # fmt: skip
    spread = {"median": 0.5, "min": 0.4, "max": 0.6, "p90": 0.6, "values": [0.5]}
    return {
        "run_id": "20250101T000000Z",
        "plan": "full",
        "duration_seconds": 300.0,
        "git": {"commit": "abc", "dirty": False},
        "machine": {"cpu_model": "Test CPU", "cpus": 2, "memory_bytes": 2**33},
        "versions": {"python": "3.11.7"},
        "scenarios": {
            "io": {
                "cells": io_cells,
                "sqlite": [{"size": MB, "write": _summary(200, 3.0), "read": _summary(900, 1.0)}],
            },
            "cycle": {
                "units": 1000,
                "one_unit": [{"concurrency": 1, "cycle": _summary(200, 5.0), "conflicts": 0}],
                "spread": [{"concurrency": 8, "cycle": _summary(300, 20.0), "conflicts": 2}],
                "bare_round_trip": _summary(2000, 0.5),
                "bare_cycle": _summary(700, 1.4),
                "bare_durable_cycle": _summary(250, 4.0),
                "sqlite_cycle": _summary(1300, 0.7),
                "ratio_to_round_trip": 10.0,
                "ratio_to_durable": 1.25,
            },
            "list": {
                "sizes": [
                    {
                        "units": 100_000,
                        "seed_seconds": 1.0,
                        "all": listed,
                        "page": {**listed, "opentaco": _summary(100, 12.0)},
                        "prefix": {**listed, "opentaco": _summary(100, 3.0)},
                    }
                ]
            },
            "memory": {
                "state_bytes": 100 * MB,
                "upload": rss,
                "download": rss,
                "bare_upload": rss,
                "bare_download": rss,
            },
            "history": {
                "state_bytes": MB,
                "versions_written": 100,
                "versions": 100,
                "whole_bytes": 100 * MB,
                "stored_bytes": 3 * MB,
                "superseded_stored_bytes": 2 * MB,
                "superseded_whole_left": 0,
                "head_stored_whole": True,
                "write_seconds": 5.0,
                "compaction_wait_seconds": 1.0,
                "read_head": _summary(500, 2.0),
                "read_oldest": _summary(50, 20.0),
                "ratio": 0.03,
                "bytes_per_version": 30_000.0,
            },
            "scale": {
                "sizes": [
                    scale_row,
                    {
                        **scale_row,
                        "units": 1_000_000,
                        "ready_seconds": 0.45,
                        "get": _summary(900, 1.1),
                    },
                ]
            },
            "coldstart": {
                "runs": 1,
                "opentaco": spread,
                "bare": spread,
                "python": spread,
                "import_taco_http_main": spread,
            },
            "graph": _graph_figures(),
        },
    }


def _graph_figures() -> dict[str, object]:
    timed = {"best": 0.2, "median": 0.3}
    core = {
        name: timed
        for name in ("baseline_scan", "build_index", "status_every_unit",
                     "build_and_status_every_unit", "status_one_unit_x1000",
                     "whole_graph_view", "parse_graph_state", "one_write_rules_and_rewrite")
    }  # fmt: skip
    http = {"bytes": 2_000_000, "opentaco": _summary(8, 120.0), "bare": _summary(70, 14.0)}
    return {
        "units": 9_999,
        "edges": 50_000,
        "requested": {"units": 10_000, "edges": 50_000},
        "core": core,
        "state_bytes": 43_000_000,
        "first_status_all_seconds": 3.0,
        "status_all": http,
        "status_one": http,
        "graph": http,
    }


def test_package_imports_without_bench_only_dependencies() -> None:
    """``import benchmarks`` works in the test environment (no psutil needed)."""
    assert benchmarks.__doc__


def test_percentile_interpolates_between_ranks() -> None:
    """Percentiles match numpy's default linear interpolation."""
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    """An empty sample or a percentile outside 0-100 is an error, not a number."""
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="within 0 and 100"):
        percentile([1.0], 101)


def test_summarize_reports_throughput_and_milliseconds() -> None:
    """A summary counts requests per second of wall time and latencies in ms."""
    summary = summarize([0.001, 0.002, 0.003, 0.004], seconds=2.0, errors=1)
    assert summary["requests"] == 4
    assert summary["errors"] == 1
    assert summary["rps"] == 2.0
    assert summary["p50_ms"] == pytest.approx(2.5)
    assert math.isnan(summarize([], 1.0)["p50_ms"])
    assert math.isnan(ratio(1.0, 0.0))


def test_state_maker_makes_valid_states_of_the_exact_size() -> None:
    """Bodies are Terraform-shaped JSON of the requested size; only serial changes."""
    for size in (10 * KB, MB):
        maker = StateMaker(size, "lineage-x")
        first, second = maker.make(1), maker.make(2)
        assert len(first) == size
        doc = json.loads(second)
        assert (doc["serial"], doc["lineage"], doc["version"]) == (2, "lineage-x", 4)
        assert doc["resources"][0]["type"] == "aws_instance"
    assert content_md5(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="
    assert size_label(10 * KB) == "10 KB"
    assert size_label(50 * MB) == "50 MB"


def test_evaluate_checks_every_target() -> None:
    """Each target of the issue gets a verdict from the figures."""
    checks = {c.name: c for c in report.evaluate(_result())}
    assert checks["GET 1 MB throughput, concurrency 1"].met is True
    assert checks["POST 1 MB throughput, concurrency 1"].met is False
    assert checks["GET 10 KB"].met is None
    assert checks["LOCK + POST (10 KB) + UNLOCK, one unit, p50"].met is True
    assert checks["100 MB upload: peak RSS growth / state size"].met is False
    assert checks["list 100,000 units, unpaginated, p50"].met is False
    assert checks["list 100,000 units, first page of 1,000, p50"].met is True
    assert checks["list with a prefix matching 100 (of 100,000), p50"].met is True
    history = "100 versions of a 1 MB slowly changing state: bytes stored / whole"
    assert checks[history].met is True
    assert checks["1,000,000 units: prefix list, p50"].met is True
    assert checks["1,000,000 units: unit GET p50 against 1,000 units"].met is True
    assert checks["1,000,000 units: start-up to ready against 1,000 units"].met is True
    assert checks["cold start to ready /readyz, median of 1"].met is True
    size = "9,999 units / 50,000 edges"
    assert checks[f"index + status of every unit in process, {size}"].met is True
    assert checks[f"GET /v1/status (every unit), {size}, p50"].met is True


def test_evaluate_marks_unmeasured_targets() -> None:
    """A run without a scenario reports its targets as not measured."""
    checks = report.evaluate({"scenarios": {}})
    assert checks
    assert all(c.met is None for c in checks)


def test_render_writes_tables_for_every_scenario() -> None:
    """The generated Markdown has the targets table and one table per scenario."""
    text = report.render(_result())
    assert "| Target | Goal | Measured | Status |" in text
    assert (
        "| POST 1 MB throughput, concurrency 1 | >= 70% of bare+SQLite | 60% of bare+SQLite "
        "| **missed** |" in text
    )
    for title in ("Backend GET and POST", "LOCK + POST", "Listing units", "Peak RSS", "History",
                  "Scale of units", "Cold start", "Dependency graph status"):  # fmt: skip
        assert f"### {title}" in text
    assert "| `GET /v1/status` (every unit) | 2.00 MB | 120.0 | 14.0 | 8.6 |" in text
    assert "Test CPU" in text


def test_splice_replaces_only_the_generated_block() -> None:
    """Hand-written text around the markers survives a new run."""
    doc = f"# Perf\n\nintro\n\n{report.BEGIN}\nold\n{report.END}\n\n## Profiles\nnotes\n"
    new = report.splice(doc, "NEW TABLE")
    assert "old" not in new
    assert "NEW TABLE" in new
    assert new.startswith("# Perf\n\nintro\n\n")
    assert new.endswith("## Profiles\nnotes\n")
    appended = report.splice("# Perf\n", "T")
    assert appended.startswith("# Perf\n\n" + report.BEGIN)
    assert report.splice(appended, "U").count(report.BEGIN) == 1
