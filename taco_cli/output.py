"""What the CLI prints: tables and lines for people, JSON for scripts.

Every command hands ``Output.result`` both forms, so ``--json`` covers every
command by construction. State bytes go to stdout untouched; when they do,
messages for people go to stderr so ``taco unit pull x > f`` stays clean.
Units, locks, diffs and API tokens print in the server's management API
shapes (``taco_adapters.wire``), so a script can switch between ``curl`` and
``taco --json``; versions print that shape less the Go reference's extras.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from taco_adapters.wire import version_json
from taco_core.diff import StateDiff
from taco_core.graph import Edge, EdgeStatus
from taco_core.graph_status import Colour, UnitStatus
from taco_core.model import LockInfo, StateVersion, Unit


def when(value: datetime) -> str:
    """A time for people: UTC to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def when_text(text: str) -> str:
    """A lock's ``created`` (RFC 3339 text as the locker sent it) for people."""
    try:
        return when(datetime.fromisoformat(text)) + " UTC"
    except ValueError:
        return text or "-"


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def version_doc(v: StateVersion) -> dict[str, Any]:
    """A version as ``--json`` prints it (see docs/cli.md): the server's history
    entry without the Go reference's ``timestamp`` and ``hash``, which repeat
    ``created`` and ``sha256``, and with ``created`` second."""
    doc = version_json(v)
    del doc["timestamp"], doc["hash"]
    return {"number": doc.pop("number"), "created": doc.pop("created"), **doc}


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart."""
    rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def holder_lines(lock: LockInfo, indent: str = "  ") -> list[str]:
    """Who holds a lock, as ``info`` and a lock conflict show it."""
    lines = [
        f"{indent}Who:       {lock.who or '-'}",
        f"{indent}ID:        {lock.id}",
        f"{indent}Since:     {when_text(lock.created)}",
    ]
    if lock.operation:
        lines.append(f"{indent}Operation: {lock.operation}")
    if lock.info:
        lines.append(f"{indent}Info:      {lock.info}")
    return lines


def unit_lines(unit: Unit) -> list[str]:
    lines = [
        f"ID:       {unit.id}",
        f"Size:     {human_size(unit.size)} ({unit.size} bytes)",
        f"Created:  {when(unit.created)} UTC",
        f"Updated:  {when(unit.updated)} UTC",
        f"Version:  {unit.head if unit.head is not None else '- (no state yet)'}",
    ]
    if unit.labels:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(unit.labels.items()))
        lines.append(f"Labels:   {labels}")
    if unit.deleted_at is not None:
        lines.append(f"Deleted:  {when(unit.deleted_at)} UTC")
    if unit.lock is None:
        lines.append("Locked:   no")
    else:
        lines.append("Locked:   yes")
        lines += holder_lines(unit.lock)
    return lines


def units_lines(units: Sequence[Unit], *, deleted: bool = False) -> list[str]:
    if not units:
        return ["No deleted units found" if deleted else "No units found"]
    if deleted:
        rows = [
            [u.id, human_size(u.size), when(u.deleted_at) if u.deleted_at else "-"] for u in units
        ]
        lines = table(["ID", "SIZE", "DELETED (UTC)"], rows)
    else:
        rows = [
            [u.id, human_size(u.size), when(u.updated), "yes" if u.locked else "no"] for u in units
        ]
        lines = table(["ID", "SIZE", "UPDATED (UTC)", "LOCKED"], rows)
    noun = "unit" if len(units) == 1 else "units"
    return [*lines, "", f"Total: {len(units)} {noun}"]


def versions_lines(versions: Sequence[StateVersion], head: int | None) -> list[str]:
    if not versions:
        return ["No versions yet"]
    rows = []
    for v in versions:
        mark = "*" if v.number == head else ("Q" if v.quarantined else "")
        how = v.surface + (f" by {v.author}" if v.author else "")
        rows.append(
            [
                mark,
                str(v.number),
                when(v.created),
                human_size(v.size),
                "-" if v.serial is None else str(v.serial),
                how,
                v.note,
            ]
        )
    lines = table(["", "VERSION", "CREATED (UTC)", "SIZE", "SERIAL", "WRITTEN BY", "NOTE"], rows)
    noun = "version" if len(versions) == 1 else "versions"
    return [*lines, "", f"Total: {len(versions)} {noun} (* current, Q quarantined)"]


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def diff_lines(d: StateDiff) -> list[str]:
    """Terraform-plan-like lines: + added, - removed, ~ changed."""
    older = "nothing" if d.from_version is None else f"version {d.from_version}"
    lines = [f"Changes from {older} to version {d.to_version}:"]
    if d.empty:
        return [*lines, "  no changes"]
    lines += [f"  + {a}" for a in d.resources_added]
    lines += [f"  - {a}" for a in d.resources_removed]
    lines += [f"  ~ {c.address} ({', '.join(c.changed_attributes)})" for c in d.resources_changed]
    lines += [f"  + output.{o.name} = {_value(o.after)}" for o in d.outputs_added]
    lines += [f"  - output.{o.name}" for o in d.outputs_removed]
    lines += [
        f"  ~ output.{o.name}: {_value(o.before)} -> {_value(o.after)}" for o in d.outputs_changed
    ]
    return lines


LABELS = {
    Colour.GREEN: "up to date",
    Colour.RED: "needs re-apply",
    Colour.YELLOW: "might need re-apply",
}
_ANSI = {"green": "\x1b[32m", "red": "\x1b[31m", "yellow": "\x1b[33m", "dim": "\x1b[2m"}
_RESET = "\x1b[0m"
_EDGE_COLOURS: dict[str, str] = {EdgeStatus.OK: "green", EdgeStatus.PENDING: "red"}


def coloured_table(
    header: Sequence[str],
    rows: Iterable[tuple[Sequence[str], str | None]],
    *,
    column: int,
    colour: bool,
) -> list[str]:
    """``table`` with one column's cells coloured per row (``None``: plain);
    padding is computed on the plain text, so columns stay aligned."""
    rows = list(rows)
    plain = table(header, [cells for cells, _ in rows])
    if not colour:
        return plain
    widths = [max(len(r[i]) for r in [header, *(c for c, _ in rows)]) for i in range(column)]
    start = sum(widths) + 2 * column
    lines = [plain[0]]
    for line, (cells, name) in zip(plain[1:], rows, strict=True):
        end = start + len(cells[column])
        if name is not None:
            line = f"{line[:start]}{_ANSI[name]}{line[start:end]}{_RESET}{line[end:]}"
        lines.append(line)
    return lines


def first_offender(s: UnitStatus) -> str:
    """For a red unit the output that changed (``UNIT:OUTPUT``), for a yellow
    one the red unit upstream; ``-`` when green or not visible."""
    if s.status is Colour.RED:
        for edge in s.incoming or ():
            if edge.status == EdgeStatus.PENDING:
                return f"{edge.from_unit_id}:{edge.from_output}"
    return s.offender or "-"


def status_lines(statuses: Sequence[UnitStatus], *, colour: bool, listing: bool) -> list[str]:
    if not statuses:
        return [
            "No units in the dependency graph"
            + " (declare opentaco_dependency resources in the state of __opentaco_system)"
        ]
    rows = [
        (
            [s.unit_id, LABELS[s.status], str(s.summary.incoming_pending), first_offender(s)],
            s.status.value,
        )
        for s in statuses
    ]
    header = ["UNIT", "STATUS", "PENDING", "FIRST OFFENDER"]
    lines = coloured_table(header, rows, column=1, colour=colour)
    if not listing:
        return lines
    counts = {c: sum(1 for s in statuses if s.status is c) for c in LABELS}
    noun = "unit" if len(statuses) == 1 else "units"
    parts = ", ".join(f"{counts[c]} {LABELS[c]}" for c in LABELS if counts[c])
    return [*lines, "", f"Total: {len(statuses)} {noun}: {parts}"]


def edges_lines(edges: Sequence[Edge], *, colour: bool) -> list[str]:
    if not edges:
        return ["No dependencies found"]
    rows = [
        (
            [e.from_unit_id, e.from_output, e.to_unit_id, e.to_input or "-", e.status or "-",
             e.last_in_at or "-"],
            _EDGE_COLOURS.get(e.status, "dim"),
        )
        for e in edges
    ]  # fmt: skip
    header = ["FROM", "OUTPUT", "TO", "INPUT", "STATUS", "CHANGED"]
    lines = coloured_table(header, rows, column=4, colour=colour)
    noun = "dependency" if len(edges) == 1 else "dependencies"
    return [*lines, "", f"Total: {len(edges)} {noun}"]


class Output:
    """Where and how results and messages are written."""

    def __init__(
        self,
        *,
        json_mode: bool,
        stdout: IO[str],
        stderr: IO[str],
        binary: IO[bytes],
        colour: bool = False,
    ) -> None:
        self.json_mode = json_mode
        self.stdout = stdout
        self.stderr = stderr
        self.binary = binary
        # Colours for people at a terminal only: never in pipes, files or --json.
        self.colour = colour and not json_mode

    def result(self, doc: Any, human: Sequence[str], *, to_stderr: bool = False) -> None:
        """A command's outcome: ``doc`` with ``--json``, else ``human`` lines.
        ``to_stderr`` keeps stdout free when it carries a state."""
        stream = self.stderr if to_stderr else self.stdout
        if self.json_mode:
            stream.write(json.dumps(doc, indent=2) + "\n")
        else:
            stream.write("".join(line + "\n" for line in human))
        stream.flush()

    def notice(self, lines: Sequence[str]) -> None:
        """Lines a person must see while a command is still running (the
        login URL): on stdout, or on stderr with ``--json`` so that stdout
        stays one JSON document."""
        stream = self.stderr if self.json_mode else self.stdout
        stream.write("".join(line + "\n" for line in lines))
        stream.flush()

    def state(self, data: bytes) -> None:
        """Raw state bytes on stdout, unchanged."""
        self.stdout.flush()
        self.binary.write(data)
        self.binary.flush()

    def trace(self, line: str) -> None:
        """One ``--verbose`` line; also what ``warn`` uses."""
        self.stderr.write(f"taco: {line}\n")
        self.stderr.flush()

    warn = trace

    def error(self, message: str, code: int, details: Sequence[str], extra: dict[str, Any]) -> None:
        if self.json_mode:
            doc = {"error": message, "exit_code": code, **extra}
            self.stderr.write(json.dumps(doc, indent=2) + "\n")
        else:
            self.stderr.write("".join(f"{line}\n" for line in [f"taco: {message}", *details]))
        self.stderr.flush()
