"""The scenarios. Each returns plain JSON-able figures (see ``report`` for
how they become the table in ``docs/performance.md``).

Every figure for OpenTaco is measured in the same run, on the same machine and
with the same client as its baseline: the bare Starlette app (``bare``) for
HTTP and raw SQLite transactions (``sqlite_floor``) for storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from benchmarks import graph_status, load, procs, sqlite_floor
from benchmarks.load import UnexpectedStatus, request
from benchmarks.plan import Cell, Plan
from benchmarks.states import KB, DriftingState, StateMaker, content_md5, size_label
from benchmarks.stats import Summary, percentile, ratio, summarize

Log = Callable[[str], None]


@dataclass
class Context:
    plan: Plan
    workdir: Path
    bare: procs.Proc
    log: Log
    profile_dir: Path | None = None

    def profile(self, pid: int, name: str) -> Any:
        out = self.profile_dir / f"{name}.txt" if self.profile_dir else None
        return procs.py_spy(pid, out)


def _state_headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "Content-MD5": content_md5(body)}


def _fmt(summary: Summary) -> str:
    return (
        f"{summary['rps']:8.1f} req/s  p50 {summary['p50_ms']:8.2f} ms  "
        f"p99 {summary['p99_ms']:8.2f} ms  n={summary['requests']} err={summary['errors']}"
    )


async def _cell(
    op: load.Operation, cell: Cell, warmup: int, *, first_index: int = 0
) -> load.LoadResult:
    """Warm up (connections, caches), then measure one cell."""
    async with load.session(cell.concurrency) as client:
        if warmup:
            await load.run(
                client,
                op,
                concurrency=cell.concurrency,
                per_worker=warmup,
                max_seconds=60,
                first_index=first_index,
            )
        return await load.run(
            client,
            op,
            concurrency=cell.concurrency,
            per_worker=cell.per_worker,
            max_seconds=cell.seconds,
            first_index=first_index + warmup,
        )


async def _interleaved(
    ops: dict[str, load.Operation], cell: Cell, warmup: int, log: Log, what: str
) -> dict[str, load.LoadResult]:
    """Measure one cell on several targets in ``cell.rounds`` alternating
    slices (the order rotating each round), so load from elsewhere on the
    machine falls on every target alike instead of on whichever ran then."""
    results = {name: load.LoadResult() for name in ops}
    names = list(ops)
    per_worker = -(-cell.per_worker // cell.rounds)
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(load.session(cell.concurrency)) for name in names
        }
        for name in names:
            if warmup:
                await load.run(
                    clients[name],
                    ops[name],
                    concurrency=cell.concurrency,
                    per_worker=warmup,
                    max_seconds=60,
                )
        for round_ in range(cell.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                results[name].add(
                    await load.run(
                        clients[name],
                        ops[name],
                        concurrency=cell.concurrency,
                        per_worker=per_worker,
                        max_seconds=cell.seconds / cell.rounds,
                    )
                )
    for name in names:
        errors = f" {dict(results[name].errors)}" if results[name].errors else ""
        log(f"  {what} {name:11} {_fmt(results[name].summary())}{errors}")
    return results


# -- backend GET and POST ------------------------------------------------------


async def backend_io(ctx: Context) -> dict[str, Any]:
    """GET and POST of states of each size, at each concurrency, against the
    service, the bare app (bytes in memory) and the bare app over raw SQLite;
    raw SQLite reads and writes of the same bytes without HTTP."""
    plan = ctx.plan
    cells_out: list[dict[str, Any]] = []
    floor_out: list[dict[str, Any]] = []
    floor_db = sqlite_floor.connect(ctx.workdir / "floor.db")
    with (
        procs.start_service(ctx.workdir, ctx.workdir / "io.db") as svc,
        procs.start_bare(ctx.workdir, sqlite=ctx.workdir / "bare-sqlite.db") as durable,
    ):
        targets = {"bare": ctx.bare.url, "bare_sqlite": durable.url, "opentaco": svc.url}
        for size, cells in plan.io.items():
            label = size_label(size)
            tag = label.replace(" ", "")
            maker = StateMaker(size, f"bench-lineage-{tag}")
            # Distinct bodies (serials) cost memory: the service, which needs
            # them, is slow enough to use them up only at the cell's end; the
            # bare apps, which do not, cycle through them.
            top = max(c.per_worker for c in cells) + plan.warmup + 1
            top = max(plan.warmup + 4, min(top, plan.body_budget // size))
            bodies = [maker.make(serial) for serial in range(1, top + 1)]
            headers = [_state_headers(b) for b in bodies]

            count = plan.sqlite_count.get(size, 5)
            floor: dict[str, Any] = {
                "size": size,
                "write": sqlite_floor.write(floor_db, bodies[0], count, 10.0),
                "read": sqlite_floor.read(floor_db, bodies[0], count * 2, 10.0),
            }
            floor_out.append(floor)
            ctx.log(f"  sqlite {label}: write {_fmt(floor['write'])}")
            ctx.log(f"  sqlite {label}: read  {_fmt(floor['read'])}")

            async with load.session(1) as client:
                for base in targets.values():
                    url = f"{base}/v1/backend/bench/get-{tag}"
                    await request(client, "POST", url, data=bodies[0], headers=headers[0])

            for method in ("GET", "POST"):
                with ctx.profile(svc.pid, f"io-{method}-{tag}"):
                    for cell in cells:
                        c = cell.concurrency
                        row: dict[str, Any] = {"op": method, "size": size, "concurrency": c}
                        if method == "GET":
                            ops = {
                                name: _get_op(f"{base}/v1/backend/bench/get-{tag}")
                                for name, base in targets.items()
                            }
                        else:
                            ops = {
                                name: _post_op(
                                    f"{base}/v1/backend/bench/post-{tag}-c{c}",
                                    bodies,
                                    headers,
                                    cycle=name != "opentaco",
                                )
                                for name, base in targets.items()
                            }
                        what = f"{method:4} {label:>6} c={c:<3}"
                        measured = await _interleaved(ops, cell, plan.warmup, ctx.log, what)
                        row.update({name: r.summary() for name, r in measured.items()})
                        row["error_kinds"] = {
                            name: dict(r.errors) for name, r in measured.items() if r.errors
                        }
                        row["ratio"] = ratio(row["opentaco"]["rps"], row["bare"]["rps"])
                        row["ratio_sqlite"] = ratio(
                            row["opentaco"]["rps"], row["bare_sqlite"]["rps"]
                        )
                        cells_out.append(row)
            del bodies, headers
    floor_db.close()
    return {"cells": cells_out, "sqlite": floor_out}


def _get_op(url: str) -> load.Operation:
    async def op(client: aiohttp.ClientSession, worker: int, index: int) -> None:
        await request(client, "GET", url)

    return op


def _post_op(
    unit_url: str, bodies: list[bytes], headers: list[dict[str, str]], *, cycle: bool = False
) -> load.Operation:
    """Each worker writes its own unit with serials 1, 2, 3 ... (one lineage),
    as one Terraform workspace per worker would, continuing across calls of
    ``load.run``; with ``cycle`` the bodies are reused round-robin (for the
    bare apps, which run no clobber guard)."""
    sent: dict[int, int] = {}

    async def op(client: aiohttp.ClientSession, worker: int, index: int) -> None:
        number = sent.get(worker, 0)
        if cycle:
            number %= len(bodies)
        elif number >= len(bodies):
            raise load.Exhausted
        sent[worker] = number + 1
        url = f"{unit_url}-w{worker}"
        await request(client, "POST", url, data=bodies[number], headers=headers[number])

    return op


# -- LOCK + POST + UNLOCK ----------------------------------------------------------


def _lock_info(lock_id: str, path: str) -> bytes:
    return json.dumps(
        {
            "ID": lock_id,
            "Operation": "OperationTypeApply",
            "Info": "",
            "Who": "bench@localhost",
            "Version": "1.9.8",
            "Created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "Path": path,
        }
    ).encode()


LOCK_WAIT_SECONDS = 10.0


class _Cycler:
    """One apply's backend traffic: LOCK (retried on 423, as ``-lock-timeout``
    does), POST of the next serial with ``?ID=``, UNLOCK."""

    def __init__(
        self,
        base: str,
        maker: StateMaker,
        unit_of: Callable[[int, int], str],
        serials: dict[str, int] | None = None,
    ) -> None:
        self.base = base
        self.maker = maker
        self.unit_of = unit_of
        # Shared by every cell on one service: a unit's serial must keep rising
        # across cells, or the clobber guard (rightly) refuses the write.
        self.serials: dict[str, int] = serials if serials is not None else {}
        self.conflicts = 0

    async def __call__(self, client: aiohttp.ClientSession, worker: int, index: int) -> None:
        unit = self.unit_of(worker, index)
        url = f"{self.base}/v1/backend/{unit}"
        lock_id = str(uuid.uuid4())
        info = _lock_info(lock_id, unit)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                await request(client, "LOCK", url, data=info)
                break
            except UnexpectedStatus as exc:
                if exc.status != 423 or time.monotonic() > deadline:
                    raise
                self.conflicts += 1
                await asyncio.sleep(0.001)
        try:
            serial = self.serials[unit] = self.serials.get(unit, 0) + 1
            body = self.maker.make(serial)
            await request(
                client, "POST", f"{url}?ID={lock_id}", data=body, headers=_state_headers(body)
            )
        finally:
            # Never leave a lock behind (a failed or cancelled cycle would make
            # every later cycle on the unit wait for it).
            await asyncio.shield(request(client, "UNLOCK", url, data=info))


async def cycles(ctx: Context) -> dict[str, Any]:
    """LOCK + POST (10 KB) + UNLOCK cycles on one unit and spread over many,
    against the same cycle on the bare app committing each request durably,
    one bare POST round trip and three raw durable transactions."""
    plan = ctx.plan
    maker = StateMaker(10 * KB, "bench-lineage-cycle")
    body = maker.make(1)
    out: dict[str, Any] = {"units": plan.spread_units, "one_unit": [], "spread": []}

    floor_db = sqlite_floor.connect(ctx.workdir / "floor-cycle.db")
    out["sqlite_cycle"] = sqlite_floor.cycle(floor_db, body, 300, 5.0)
    floor_db.close()
    ctx.log(f"  sqlite 3 durable tx: {_fmt(out['sqlite_cycle'])}")

    bodies = [maker.make(serial) for serial in range(1, 1000)]
    round_trip = _post_op(
        f"{ctx.bare.url}/v1/backend/bench/rt",
        bodies,
        [_state_headers(b) for b in bodies],
        cycle=True,
    )
    rt = await _cell(round_trip, Cell(1, 900, 3.0), plan.warmup)
    out["bare_round_trip"] = rt.summary()
    ctx.log(f"  bare POST 10 KB round trip: {_fmt(out['bare_round_trip'])}")

    bare_cycle = _Cycler(ctx.bare.url, maker, lambda w, i: "bench/cycle/one")
    out["bare_cycle"] = (await _cell(bare_cycle, plan.cycle_one_unit[0], plan.warmup)).summary()
    ctx.log(f"  bare cycle: {_fmt(out['bare_cycle'])}")

    with (
        procs.start_service(ctx.workdir, ctx.workdir / "cycle.db") as svc,
        procs.start_bare(ctx.workdir, sqlite=ctx.workdir / "bare-cycle.db") as durable,
    ):
        await _create_units(svc.url, [_spread_unit(k) for k in range(plan.spread_units)])
        with ctx.profile(svc.pid, "cycle"):
            serials: dict[str, int] = {}
            one = _Cycler(svc.url, maker, lambda w, i: "bench/cycle/one", serials)
            floor = _Cycler(durable.url, maker, lambda w, i: "bench/cycle/one")
            for cell in plan.cycle_one_unit:
                one.conflicts = 0
                if cell.concurrency == 1:
                    # Beside its floor, in alternating slices: the same three
                    # requests against a bare app that commits each durably.
                    both = await _interleaved(
                        {"bare_durable": floor, "opentaco": one},
                        Cell(1, cell.per_worker, cell.seconds, 4),
                        plan.warmup,
                        ctx.log,
                        "cycle one unit c=1",
                    )
                    out["bare_durable_cycle"] = both["bare_durable"].summary()
                    summary = both["opentaco"].summary()
                else:
                    summary = (await _cell(one, cell, plan.warmup)).summary()
                out["one_unit"].append(
                    {"concurrency": cell.concurrency, "cycle": summary, "conflicts": one.conflicts}
                )
                ctx.log(f"  cycle one unit c={cell.concurrency:<3} {_fmt(summary)}"
                        f" 423s={one.conflicts}")  # fmt: skip
            for cell in plan.cycle_spread:
                c = cell.concurrency
                spread = _Cycler(svc.url, maker, _spread_picker(c, plan.spread_units), serials)
                summary = (await _cell(spread, cell, plan.warmup)).summary()
                out["spread"].append(
                    {"concurrency": c, "cycle": summary, "conflicts": spread.conflicts}
                )
                ctx.log(f"  cycle spread   c={c:<3} {_fmt(summary)} 423s={spread.conflicts}")
    first = out["one_unit"][0]["cycle"]
    out["ratio_to_round_trip"] = ratio(first["p50_ms"], out["bare_round_trip"]["p50_ms"])
    out["ratio_to_durable"] = ratio(first["p50_ms"], out["bare_durable_cycle"]["p50_ms"])
    return out


def _spread_picker(concurrency: int, units: int) -> Callable[[int, int], str]:
    """Worker ``w``'s ``i``-th cycle goes to unit ``i * concurrency + w``, so
    workers touch disjoint units at any moment (barring drift)."""

    def pick(worker: int, index: int) -> str:
        return _spread_unit((index * concurrency + worker) % units)

    return pick


def _spread_unit(k: int) -> str:
    return f"bench/cycle/spread-{k:04d}"


async def _create_units(base: str, ids: list[str]) -> None:
    async def op(client: aiohttp.ClientSession, worker: int, index: int) -> None:
        k = index * 16 + worker
        if k < len(ids):
            body = json.dumps({"id": ids[k]}).encode()
            await request(client, "POST", f"{base}/v1/units", data=body, expect=201)

    async with load.session(16) as client:
        result = await load.run(
            client, op, concurrency=16, per_worker=len(ids) // 16 + 1, max_seconds=120
        )
    if result.errors:
        raise RuntimeError(f"creating units failed: {dict(result.errors)}")


# -- listing units -------------------------------------------------------------


_ENVS = 100
# The first page of a paginated listing.
_PAGE = 1000


def unit_ids(count: int) -> Iterable[str]:
    """``proj0000/env00`` ...: ``count // 100`` projects of 100 units, so the
    prefix ``proj0042/`` matches exactly 100."""
    for k in range(count):
        yield f"proj{k // _ENVS:04d}/env{k % _ENVS:02d}"


def seed_units(db: Path, count: int) -> float:
    """Create the service's schema with the adapter itself, then insert
    ``count`` units with plain SQL (one transaction); seconds taken. Creating
    100,000 units through the API would take minutes of durable commits; the
    listing checks the count, so a schema this insert no longer fits fails
    loudly instead of measuring an empty list."""
    from taco_adapters.sqlite import SqliteStateStore

    began = time.perf_counter()

    async def create_schema() -> None:
        store = await SqliteStateStore.open(db)
        await store.aclose()

    anyio.run(create_schema)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO units (id, created, updated, size, labels) VALUES (?, ?, ?, ?, ?)",
        (
            (
                unit_id,
                (base + timedelta(seconds=k)).isoformat(timespec="microseconds"),
                (base + timedelta(seconds=k, minutes=5)).isoformat(timespec="microseconds"),
                0,
                json.dumps({"team": f"team{k % 7}"}),
            )
            for k, unit_id in enumerate(unit_ids(count))
        ),
    )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - began


def _sqlite_list(db: Path, prefix: str, repeats: int, *, limit: int | None = None) -> Summary:
    """The adapter's list query (its own column list and order), rows fetched
    as tuples and nothing else: what SQLite alone costs."""
    from taco_adapters.sqlite import state_store as adapter

    columns = getattr(adapter, "_UNIT_COLUMNS", "*")
    conn = sqlite3.connect(db, isolation_level=None)
    where, params = "deleted_at IS NULL", ()
    if prefix:
        where += " AND id >= ? AND id < ?"
        params = (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))  # type: ignore[assignment]
    sql = f"SELECT {columns} FROM units WHERE {where} ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {limit}"
    latencies = []
    start = time.perf_counter()
    for _ in range(repeats):
        began = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(sql, params).fetchall()
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - began)
    conn.close()
    return summarize(latencies, time.perf_counter() - start)


async def listing(ctx: Context) -> dict[str, Any]:
    """``GET /v1/units`` over seeded databases, in full and with a prefix that
    matches 100 units; the bare app returning the same bytes; raw SQLite."""
    plan = ctx.plan
    out: list[dict[str, Any]] = []
    for count in plan.list_sizes:
        db = ctx.workdir / f"list-{count}.db"
        seeded = await asyncio.to_thread(seed_units, db, count)
        ctx.log(f"  seeded {count} units in {seeded:.2f}s")
        with procs.start_service(ctx.workdir, db) as svc:
            row: dict[str, Any] = {"units": count, "seed_seconds": seeded}
            project = f"proj{min(42, count // _ENVS - 1):04d}"
            for kind, query, prefix, repeats, expected in (
                ("all", "", "", plan.list_repeats, count),
                ("page", f"?limit={_PAGE}", "", plan.prefix_repeats, min(_PAGE, count)),
                ("prefix", f"?prefix={project}%2F", f"{project}/", plan.prefix_repeats, _ENVS),
            ):
                async with load.session(1) as client:
                    answer = await request(client, "GET", f"{svc.url}/v1/units{query}")
                    listed = json.loads(answer)["count"]
                    if listed != expected:
                        raise RuntimeError(f"listed {listed} units, expected {expected}")
                    await request(client, "POST", f"{ctx.bare.url}/v1/units{query}", data=answer)
                cell = Cell(1, repeats, 60.0)
                results: dict[str, Any] = {"bytes": len(answer), "listed": listed}
                with ctx.profile(svc.pid, f"list-{count}-{kind}"):
                    for name, base in (("bare", ctx.bare.url), ("opentaco", svc.url)):
                        op = _get_op(f"{base}/v1/units{query}")
                        results[name] = (await _cell(op, cell, 1)).summary()
                results["sqlite"] = _sqlite_list(
                    db, prefix, repeats, limit=_PAGE if kind == "page" else None
                )
                row[kind] = results
                ctx.log(f"  list {count:>6} {kind:6} opentaco {_fmt(results['opentaco'])}")
                ctx.log(f"  list {count:>6} {kind:6} bare     {_fmt(results['bare'])}")
                ctx.log(f"  list {count:>6} {kind:6} sqlite   {_fmt(results['sqlite'])}")
        out.append(row)
    return {"sizes": out}


# -- peak memory -----------------------------------------------------------------


async def memory(ctx: Context) -> dict[str, Any]:
    """Peak RSS of a fresh service while it takes one big upload, and of
    another fresh service (same database) while it serves it back."""
    size = ctx.plan.memory_state
    body = StateMaker(size, "bench-lineage-memory").make(1)
    headers = _state_headers(body)
    out: dict[str, Any] = {"state_bytes": len(body)}

    async def measure(proc: procs.Proc, method: str, url: str, name: str) -> dict[str, Any]:
        idle = procs.rss(proc.pid)
        with ctx.profile(proc.pid, name), procs.RssSampler(proc.pid) as sampler:
            async with load.session(1) as client:
                began = time.perf_counter()
                if method == "POST":
                    await request(client, "POST", url, data=body, headers=headers)
                else:
                    got = await request(client, "GET", url)
                    if len(got) != len(body):
                        raise RuntimeError(f"downloaded {len(got)} bytes, expected {len(body)}")
                    del got
                seconds = time.perf_counter() - began
        hwm = procs.high_water_mark(proc.pid)
        peak = max(sampler.peak, hwm or 0)
        figures = {
            "seconds": seconds,
            "idle_rss": idle,
            "peak_rss": peak,
            "sampled_peak_rss": sampler.peak,
            "vm_hwm": hwm,
            "samples": sampler.samples,
            "peak_ratio": peak / len(body),
            "growth_ratio": (peak - idle) / len(body),
        }
        ctx.log(
            f"  {name}: {seconds:.2f}s idle {idle / 1e6:.0f} MB peak {peak / 1e6:.0f} MB "
            f"= {figures['peak_ratio']:.2f}x state (growth {figures['growth_ratio']:.2f}x)"
        )
        return figures

    db = ctx.workdir / "memory.db"
    unit = "/v1/backend/bench/memory"
    with procs.start_service(ctx.workdir, db) as svc:
        out["upload"] = await measure(svc, "POST", svc.url + unit, "memory-upload")
    with procs.start_service(ctx.workdir, db) as svc:
        out["download"] = await measure(svc, "GET", svc.url + unit, "memory-download")
    with procs.start_bare(ctx.workdir) as bare:
        out["bare_upload"] = await measure(bare, "POST", bare.url + unit, "bare-upload")
        out["bare_download"] = await measure(bare, "GET", bare.url + unit, "bare-download")
    return out


# -- cold start ------------------------------------------------------------------


def _wall(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, env=procs._env())
    return time.perf_counter() - began


def cold_start(ctx: Context) -> dict[str, Any]:
    """``opentacosvc`` launch to the first 200 from ``/readyz``, each on a new
    database; the bare app and the bare interpreter for comparison."""
    runs = ctx.plan.cold_starts
    service: list[float] = []
    bare: list[float] = []
    for k in range(runs):
        workdir = ctx.workdir / f"cold-{k}"
        with procs.start_service(workdir, workdir / "taco.db") as svc:
            service.append(svc.ready_seconds)
        with procs.start_bare(workdir) as proc:
            bare.append(proc.ready_seconds)
    python = [_wall([sys.executable, "-c", "pass"]) for _ in range(runs)]
    imports = [_wall([sys.executable, "-c", "import taco_http.main"]) for _ in range(runs)]
    out: dict[str, Any] = {
        "runs": runs,
        "opentaco": _spread(service),
        "bare": _spread(bare),
        "python": _spread(python),
        "import_taco_http_main": _spread(imports),
    }
    ctx.log(
        f"  ready in {out['opentaco']['median']:.3f}s median (max {out['opentaco']['max']:.3f}s);"
        f" bare {out['bare']['median']:.3f}s; python {out['python']['median']:.3f}s;"
        f" import taco_http.main {out['import_taco_http_main']['median']:.3f}s"
    )
    return out


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "p90": percentile(values, 90),
        "values": values,
    }


# -- dependency graph status -------------------------------------------------------


async def graph(ctx: Context) -> dict[str, Any]:
    """Status answers on a large dependency graph: in process (building the
    index once per graph version, then answering; baseline one pass over the
    edges), and over HTTP (``GET /v1/status`` for every unit, one unit's
    status, the whole graph) against the bare app serving the same bytes."""
    plan = ctx.plan
    units, edges = plan.graph_units, plan.graph_edges
    core = await asyncio.to_thread(graph_status.run, units, edges, plan.graph_repeat, 1)
    ctx.log(graph_status.report(core))
    out: dict[str, Any] = {
        "units": core["units"],
        "edges": core["edges"],
        "requested": {"units": units, "edges": edges},
        "core": core,
    }
    made = graph_status.make_edges(units, edges, random.Random(1))
    state = graph_status.state_bytes(made)
    one = made[0].to_unit_id
    paths = {
        "status_all": "/v1/status",
        "status_one": f"/v1/units/{one}/status",
        "graph": "/v1/graph",
    }
    with procs.start_service(ctx.workdir, ctx.workdir / "graph.db") as svc:
        async with load.session(1) as client:
            began = time.perf_counter()
            await request(
                client, "POST", f"{svc.url}/v1/backend/__opentaco_system", data=state,
                headers=_state_headers(state),
            )  # fmt: skip
            out["upload_seconds"] = time.perf_counter() - began
            # The first answer parses the graph and builds its index (and the
            # service's first pass over a graph it did not write checks its
            # fresh edges); later ones come from the index kept for this version.
            began = time.perf_counter()
            await request(client, "GET", svc.url + paths["status_all"])
            out["first_status_all_seconds"] = time.perf_counter() - began
            answers = {
                name: await request(client, "GET", svc.url + path) for name, path in paths.items()
            }
            for name, body in answers.items():
                await request(
                    client, "POST", f"{ctx.bare.url}/v1/backend/bench/graph-{name}", data=body
                )
        out["state_bytes"] = len(state)
        for name, path in paths.items():
            row: dict[str, Any] = {"bytes": len(answers[name])}
            with ctx.profile(svc.pid, f"graph-{name}"):
                ops = {
                    "opentaco": _get_op(svc.url + path),
                    "bare": _get_op(f"{ctx.bare.url}/v1/backend/bench/graph-{name}"),
                }
                measured = await _interleaved(ops, plan.graph_cell, 1, ctx.log, f"graph {name}")
            row.update({target: r.summary() for target, r in measured.items()})
            out[name] = row
    return out


# -- history cost ------------------------------------------------------------------


def stored_history(db: Path, unit_id: str) -> dict[str, Any]:
    """What one unit's versions take in the file: their sizes, the bytes their
    blobs hold, and how many are still whole besides the head."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT v.number, v.size, length(b.data), b.encoding, u.head FROM versions v "
            "JOIN blobs b ON b.id = v.blob_id JOIN units u ON u.key = v.unit_key "
            "WHERE u.id = ? AND u.deleted_at IS NULL ORDER BY v.number",
            (unit_id,),
        ).fetchall()
    finally:
        conn.close()
    superseded = [r for r in rows if r[0] != r[4]]
    return {
        "versions": len(rows),
        "whole_bytes": sum(r[1] for r in rows),
        "stored_bytes": sum(r[2] for r in rows),
        "superseded_stored_bytes": sum(r[2] for r in superseded),
        "superseded_whole_left": sum(1 for r in superseded if r[3] == 0),
        "head_stored_whole": bool(rows) and rows[-1][3] == 0,
    }


async def history(ctx: Context) -> dict[str, Any]:
    """100 versions of a realistic, slowly changing 1 MB state written through
    the backend; the bytes the history takes once the service has compressed
    it, and what reading the oldest version costs beside the head."""
    plan = ctx.plan
    drift = DriftingState(plan.history_state, "bench-lineage-history")
    bodies = [drift.next(serial) for serial in range(1, plan.history_versions + 1)]
    db = ctx.workdir / "history.db"
    unit = "bench/history"
    out: dict[str, Any] = {
        "state_bytes": len(bodies[0]),
        "nominal_bytes": plan.history_state,
        "versions_written": len(bodies),
    }
    with procs.start_service(ctx.workdir, db) as svc:
        url = f"{svc.url}/v1/backend/{unit}"
        async with load.session(1) as client:
            began = time.perf_counter()
            for body in bodies:
                await request(client, "POST", url, data=body, headers=_state_headers(body))
            out["write_seconds"] = time.perf_counter() - began
            # The service compresses superseded versions in the background.
            deadline = time.monotonic() + 120
            while (figures := stored_history(db, unit))["superseded_whole_left"]:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            out["compaction_wait_seconds"] = time.perf_counter() - began - out["write_seconds"]
            out.update(figures)
            for name, path in (
                ("read_head", f"/v1/units/{unit.replace('/', '__')}/download"),
                ("read_oldest", f"/v1/units/{unit.replace('/', '__')}/versions/1"),
            ):
                op = _get_op(svc.url + path)
                out[name] = (await _cell(op, Cell(1, plan.history_reads, 10.0), 1)).summary()
    out["ratio"] = ratio(out["stored_bytes"], out["whole_bytes"])
    out["bytes_per_version"] = out["stored_bytes"] / max(1, out["versions"])
    ctx.log(
        f"  {out['versions']} versions of {out['state_bytes'] / 1e6:.2f} MB: whole "
        f"{out['whole_bytes'] / 1e6:.1f} MB, stored {out['stored_bytes'] / 1e6:.2f} MB "
        f"({out['ratio']:.1%}), {out['bytes_per_version'] / 1e3:.1f} KB per version; "
        f"{out['superseded_whole_left']} superseded still whole"
    )
    ctx.log(f"  read head   {_fmt(out['read_head'])}")
    ctx.log(f"  read oldest {_fmt(out['read_oldest'])}")
    return out


# -- scale of units ----------------------------------------------------------------


def _serials_op(url: str, maker: StateMaker) -> load.Operation:
    """POSTs of serials 1, 2, 3 ... of one lineage to one unit (one worker)."""
    serials = iter(range(1, 1_000_000))

    async def op(client: aiohttp.ClientSession, worker: int, index: int) -> None:
        body = maker.make(next(serials))
        await request(client, "POST", url, data=body, headers=_state_headers(body))

    return op


async def scale(ctx: Context) -> dict[str, Any]:
    """The same few operations on a file of ``scale_small`` units and one of
    ``scale_large`` units (built with plain SQL, as the listing's are): start-up
    to ready, a prefix listing, and GET and POST of one unit's state."""
    plan = ctx.plan
    out: dict[str, Any] = {"sizes": []}
    maker = StateMaker(10 * KB, "bench-lineage-scale")
    for count in (plan.scale_small, plan.scale_large):
        db = ctx.workdir / f"scale-{count}.db"
        seeded = await asyncio.to_thread(seed_units, db, count)
        ctx.log(f"  seeded {count} units in {seeded:.1f}s")
        row: dict[str, Any] = {"units": count, "seed_seconds": seeded}
        with procs.start_service(ctx.workdir, db) as svc:
            row["ready_seconds"] = svc.ready_seconds
            project = f"proj{min(42, count // _ENVS - 1):04d}"
            unit = f"{svc.url}/v1/backend/{project}/env07"
            cell = Cell(1, plan.scale_requests, 10.0)
            row["post"] = (await _cell(_serials_op(unit, maker), cell, plan.warmup)).summary()
            row["get"] = (await _cell(_get_op(unit), cell, plan.warmup)).summary()
            prefix = _get_op(f"{svc.url}/v1/units?prefix={project}%2F")
            row["prefix"] = (await _cell(prefix, cell, plan.warmup)).summary()
        for name in ("post", "get", "prefix"):
            ctx.log(f"  {count:>8} units {name:6} {_fmt(row[name])}")
        ctx.log(f"  {count:>8} units ready in {row['ready_seconds']:.3f}s")
        out["sizes"].append(row)
        db.unlink()
    return out
