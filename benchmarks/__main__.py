"""``python -m benchmarks [--quick] [--only SCENARIO ...] [--profile DIR]``.

Writes ``benchmarks/results/<run id>.json`` and, for a full run of every
scenario, the generated tables of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata, util
from pathlib import Path
from typing import Any

from benchmarks import procs, report, scenarios
from benchmarks.plan import FULL, QUICK

RESULTS = procs.REPO / "benchmarks" / "results"
DOC = procs.REPO / "docs" / "performance.md"
SCENARIOS = ("io", "cycle", "list", "memory", "history", "scale", "graph", "coldstart")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small, seconds")
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, metavar="SCENARIO", help=", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record a py-spy profile (raw collapsed stacks) of the service per scenario phase",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON")
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help=f"document to write the tables into (default {DOC.relative_to(procs.REPO)} "
        "for a full run of every scenario, none otherwise)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser


def machine_info() -> dict[str, Any]:
    cpu_model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        import psutil

        memory = psutil.virtual_memory().total
    except ImportError:
        pass
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": memory,
        "hostname": platform.node(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def versions() -> dict[str, str]:
    found: dict[str, str] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "uvicorn_http": "httptools" if util.find_spec("httptools") else "h11",
        # Both servers start uvicorn inside asyncio.run(), which never installs uvloop.
        "uvicorn_loop": "asyncio",
    }
    for dist in ("opentaco", "starlette", "uvicorn", "h11", "anyio", "attrs", "cattrs",
                 "aiohttp", "psutil", "py-spy", "zstandard"):  # fmt: skip
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=procs.REPO, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def _clean(value: Any) -> Any:
    """NaN and infinities are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def log(message: str) -> None:
    print(message, flush=True)


async def run_scenarios(
    ctx: scenarios.Context, chosen: tuple[str, ...], result: dict[str, Any]
) -> None:
    steps: dict[str, Callable[[], Any]] = {
        "io": lambda: scenarios.backend_io(ctx),
        "cycle": lambda: scenarios.cycles(ctx),
        "list": lambda: scenarios.listing(ctx),
        "memory": lambda: scenarios.memory(ctx),
        "history": lambda: scenarios.history(ctx),
        "scale": lambda: scenarios.scale(ctx),
        "coldstart": lambda: asyncio.to_thread(scenarios.cold_start, ctx),
        "graph": lambda: scenarios.graph(ctx),
    }
    for name in chosen:
        log(f"== {name}")
        began = time.perf_counter()
        result["scenarios"][name] = await steps[name]()
        result["scenario_seconds"][name] = time.perf_counter() - began
        log(f"   ({result['scenario_seconds'][name]:.0f}s)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plan = QUICK if args.quick else FULL
    chosen = tuple(args.only) if args.only else SCENARIOS
    docs = args.docs
    if docs is None and not args.quick and chosen == SCENARIOS:
        docs = DOC
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    result: dict[str, Any] = {
        "schema": 1,
        "run_id": run_id,
        "plan": plan.name,
        "started_at": started.isoformat(),
        "machine": machine_info(),
        "versions": versions(),
        "git": git_info(),
        "scenarios": {},
        "scenario_seconds": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="taco-bench-"))
    log(f"benchmarks ({plan.name}) in {workdir}")
    began = time.perf_counter()
    try:
        with procs.start_bare(workdir) as bare:
            ctx = scenarios.Context(plan, workdir, bare, log, args.profile)
            asyncio.run(run_scenarios(ctx, chosen, result))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["duration_seconds"] = time.perf_counter() - began
    if hasattr(os, "getloadavg"):
        result["machine"]["load_average_at_end"] = os.getloadavg()
    result["targets"] = [vars(check) for check in report.evaluate(result)]

    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{run_id}.json"
    out.write_text(json.dumps(_clean(result), indent=2) + "\n")
    log(f"\nwrote {out} ({result['duration_seconds']:.0f}s)")
    for check in report.evaluate(result):
        log(f"  {report._status(check.met):14} {check.name}: {check.measured} ({check.goal})")
    if docs is not None:
        current = docs.read_text() if docs.exists() else "# Performance\n"
        docs.write_text(report.splice(current, report.render(result)))
        log(f"wrote {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
