"""`memmond` (or `memmond show --short`): the answer `free -h` gives, and what free cannot: the pressure
level and PSI, the largest services and processes, and any rule the daemon has firing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group as Lines
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from memmond import format as fmt
from memmond.cli import term
from memmond.model.processes import ProcessRow, sort_rows
from memmond.model.snapshot import Snapshot
from memmond.rules.levels import level_of
from memmond.sources.cgroup import CgroupMemory

TOP = 3


def free_table(snap: Snapshot) -> RenderableType:
    """free(1)'s rows with free's own definitions (procps 4): used = total - available, buff/cache =
    Buffers + Cached + SReclaimable, shared = Shmem."""

    def field(name: str) -> int:
        return snap.mem_field(name) or 0

    total, available = field("MemTotal"), snap.mem_available or 0
    cache = field("Buffers") + field("Cached") + field("SReclaimable")
    swap_total, swap_free = field("SwapTotal"), field("SwapFree")
    rows = [
        [
            "Mem:",
            *map(fmt.short_iec, (total, total - available, field("MemFree"), field("Shmem"), cache, available)),
        ],
        ["Swap:", *map(fmt.short_iec, (swap_total, swap_total - swap_free, swap_free)), "", "", ""],
    ]
    columns = ["", "total", "used", "free", "shared", "buff/cache", "available"]
    return term.table(columns, rows, numeric_from=1, flexible=-1)


def _pressure_line(snap: Snapshot) -> Text:
    level, reason = level_of(snap)
    line = Text()
    line.append(level, style=term.STYLES.get(level, ""))
    if snap.pressure is not None and snap.pressure.some is not None:
        some = snap.pressure.some.avg10
        full = snap.pressure.full.avg10 if snap.pressure.full is not None else 0.0
        line.append(f" · stalled {fmt.percent(some)} some, {fmt.percent(full)} full (PSI avg10)")
    else:
        line.append(" · no PSI on this kernel")
    if level != "low":
        line.append(f" · {reason}")
    return line


def _services(cgroups: Sequence[CgroupMemory]) -> Text:
    units = [cg for cg in cgroups if cg.current is not None and cg.path != "/" and not cg.name.endswith(".slice")]
    units.sort(key=lambda cg: cg.current or 0, reverse=True)
    if not units:
        return Text("no cgroup hierarchy with memory figures found", style=term.STYLES["dim"])
    return Text(" · ".join(f"{fmt.cut_middle(cg.name, 24)} {fmt.short_iec(cg.current or 0)}" for cg in units[:TOP]))


def _processes(rows: Sequence[ProcessRow]) -> Text:
    known = any(row.pss_bytes is not None for row in rows)
    key = "pss" if known else "rss"
    parts = [f"{row.command} ({row.pid}) {fmt.short_iec(row.value(key) or 0)}" for row in sort_rows(rows, key)[:TOP]]
    return Text(f"{' · '.join(parts) or 'none readable'}" + ("" if known else " (RSS)"))


def _rules(rules: dict[str, Any] | str) -> RenderableType:
    """The daemon's firing rules, or why there are none to show (`rules` is the error then)."""
    if isinstance(rules, str):
        return Text(rules, style=term.STYLES["dim"])
    firing = [rule for rule in rules["rules"] if rule["state"] == "firing"]
    if not firing:
        return Text("none firing")
    lines = []
    for rule in firing:
        line = Text()
        line.append(rule["name"], style=term.STYLES["firing"])
        line.append(f" ({rule['severity']}")
        if rule["active_seconds"] is not None:
            line.append(f", {fmt.duration(rule['active_seconds'])}")
        line.append(")")
        cgroups = [c["cgroup"].rsplit("/", 1)[-1] for c in rule["firing_cgroups"]]
        detail = ", ".join(cgroups) if cgroups else rule["summary"]
        if detail:
            line.append(f": {detail}")
        lines.append(line)
    return Lines(*lines)


def view(
    snap: Snapshot, cgroups: Sequence[CgroupMemory], rows: Sequence[ProcessRow], rules: dict[str, Any] | str
) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style=term.STYLES["heading"], no_wrap=True)
    facts.add_column()
    facts.add_row("Pressure", _pressure_line(snap))
    facts.add_row("Services", _services(cgroups))
    facts.add_row("Processes", _processes(rows))
    facts.add_row("Rules", _rules(rules))
    return Lines(free_table(snap), Text(""), facts)
