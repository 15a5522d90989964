"""``python -m benchmarks.profiles FILE [FILE ...]``: where a profiled phase's
time went, by thread and by part of the stack.

``--profile DIR`` records py-spy "raw" collapsed stacks per scenario phase;
this reads them. A sample belongs to the innermost frame of the stack that
one of ``PARTS`` claims (so time in ``json.loads`` called from the state
parser counts as the parse, and time in SQLite called from a store as the
store). Samples of a thread waiting (in ``select``, on a queue, on a lock,
this process's SQLite write lock included) are ``waiting``; the shares are
of the busy samples.

The service's threads: the event loop (``MainThread``), the worker threads
that run SQLite transactions (``AnyIO worker thread``) and the history
compactor (``taco-compactor``).
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

WAITING = "waiting"

# (part, substrings of a frame that belong to it), most specific first.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # GroupCommit.run is innermost only while it waits for the write lock.
    (
        WAITING,
        ("EpollSelector.select", "Condition.wait", "Event.wait", "Queue.get", "GroupCommit.run"),
    ),
    ("state parse (JSON)", ("taco_core/state_doc.py",)),
    ("hashing (MD5, SHA-256)", ("check_content_md5", "fingerprint")),
    ("history compaction (zstd)", ("compaction.py", "compression.py")),
    ("access log", ("logging/__init__", "RequestTelemetry._log")),
    ("metrics", ("prometheus_client", "taco_http/metrics.py")),
    ("dependency graph", ("graph_service.py",)),
    ("audit trail", ("audit_service.py", "taco_core/audit.py", "audit_log.py")),
    ("SQLite read on the event loop", ("query_inline", "read_inline")),
    ("SQLite: BEGIN and COMMIT (WAL write, fsync)", ("database.py", "group_commit.py")),
    ("storage adapters (SQL statements, rows)", ("taco_adapters/",)),
    ("thread hand-off (anyio)", ("anyio/",)),
    ("use cases (taco_core)", ("taco_core/",)),
    ("HTTP: OpenTaco handlers, middleware", ("taco_http/",)),
    ("HTTP: Starlette", ("starlette/",)),
    ("HTTP: uvicorn", ("uvicorn/", "httptools")),
    ("event loop, sockets (asyncio)", ("asyncio/", "selectors.py")),
)


def part_of(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        for part, keys in PARTS:
            if any(key in frame for key in keys):
                return part
    return "other"


def thread_of(header: str) -> str:
    """``thread (1234): MainThread`` -> ``MainThread``; unnamed -> ``other``."""
    _, _, name = header.partition("): ")
    name = name.strip()
    if name.startswith("AnyIO worker thread"):
        return "SQLite workers"
    if name == "MainThread":
        return "event loop"
    if name == "taco-compactor":
        return "compactor"
    return name or "other"


def summarize(lines: Iterable[str]) -> dict[str, collections.Counter[str]]:
    """Samples by thread, then by part."""
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        header, *frames = stack.split(";")
        out[thread_of(header)][part_of(frames)] += int(count)
    return out


def render(name: str, found: dict[str, collections.Counter[str]]) -> str:
    rows = [f"### {name}", ""]
    busy_all = sum(sum(c.values()) - c[WAITING] for c in found.values())
    rows.append("| thread | part | share of the thread's busy samples | share of all busy |")
    rows.append("|---|---|---|---|")
    for thread, parts in sorted(found.items(), key=lambda kv: -sum(kv[1].values())):
        busy = sum(parts.values()) - parts[WAITING]
        if busy <= 0:
            continue
        for part, samples in parts.most_common():
            if part == WAITING or samples * 100 < busy:
                continue
            rows.append(
                f"| {thread} | {part} | {100 * samples / busy:.0f}% | "
                f"{100 * samples / busy_all:.0f}% |"
            )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiles", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="py-spy raw files of --profile")
    args = parser.parse_args(argv)
    for path in args.files:
        with path.open() as lines:
            print(render(path.stem, summarize(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
