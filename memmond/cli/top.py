"""`memmond top`: processes by memory, as smem and htop's memory columns show them, grouped on request."""

from __future__ import annotations

import pwd
from collections.abc import Sequence

from rich.console import Group as Lines
from rich.console import RenderableType
from rich.text import Text

from memmond import format as fmt
from memmond.cli import term
from memmond.model import processes
from memmond.model.processes import Group, ProcessRow

UNAVAILABLE = "n/a"


def user_names(rows: Sequence[ProcessRow]) -> dict[int, str]:
    """uid -> login name for the uids in `rows`; a uid without an entry stays a number."""
    names = {}
    for uid in {row.uid for row in rows if row.uid is not None}:
        try:
            names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            names[uid] = str(uid)
    return names


def _size(value: int | None) -> str:
    return UNAVAILABLE if value is None else fmt.short_iec(value)


def view(rows: Sequence[ProcessRow], sort: str, by: str | None, limit: int) -> RenderableType:
    """The table, largest first by `sort`, at most `limit` rows, then the total of every process."""
    names = user_names(rows)
    every = processes.total(rows)
    heading = f"Processes by {sort.upper()}" + (f", per {'command' if by == 'comm' else by}" if by else "")
    sums = [
        fmt.short_iec(every.rss_bytes),
        fmt.short_iec(every.pss_bytes),
        fmt.short_iec(every.uss_bytes),
        fmt.short_iec(every.swap_bytes),
    ]
    if by is None:
        body = [
            [
                str(row.pid),
                names.get(row.uid, "?") if row.uid is not None else "?",
                row.command,
                row.unit or row.cgroup,
                fmt.short_iec(row.rss_bytes),
                _size(row.pss_bytes),
                _size(row.uss_bytes),
                fmt.short_iec(row.swap_bytes),
            ]
            for row in processes.sort_rows(rows, sort)[:limit]
        ]
        columns = ["PID", "USER", "COMMAND", "UNIT", "RSS", "PSS", "USS", "SWAP"]
        grid = term.table(
            columns, body, numeric_from=4, flexible=3, totals=["", "", "total", "", *sums], cut_middle=True
        )
        grid.columns[0].justify = "right"
        count = len(rows)
    else:
        groups = processes.sort_groups(processes.group_by(rows, by, names), sort)
        label = {"user": "USER", "comm": "COMMAND", "unit": "UNIT"}[by]
        body = [[group.key, *_group_cells(group)] for group in groups[:limit]]
        totals = ["total", str(every.processes), *sums]
        grid = term.table([label, "PROCS", "RSS", "PSS", "USS", "SWAP"], body, totals=totals, cut_middle=True)
        count = len(groups)
    lines: list[RenderableType] = [
        Text(f"{heading} ({min(limit, count)} of {count} shown)", style=term.STYLES["heading"]),
        grid,
    ]
    if every.processes_without_pss:
        lines.append(
            Text(
                f"PSS and USS n/a for {every.processes_without_pss} of {every.processes} processes: their smaps_rollup "
                "was not readable (another user's, unless run as root); the totals leave them out.",
                style=term.STYLES["dim"],
            )
        )
    lines.append(
        Text(
            "RSS counts shared pages in every process; PSS shares them out (the sum is what the processes "
            "take); USS is what exiting would free.",
            style=term.STYLES["dim"],
        )
    )
    return Lines(*lines)


def _group_cells(group: Group) -> list[str]:
    """A group's sums; PSS and USS are "≥" a sum when some of its processes could not be read, n/a when
    none could."""

    def known(value: int) -> str:
        if group.processes_without_pss == group.processes:
            return UNAVAILABLE
        return ("≥" if group.processes_without_pss else "") + fmt.short_iec(value)

    return [
        str(group.processes),
        fmt.short_iec(group.rss_bytes),
        known(group.pss_bytes),
        known(group.uss_bytes),
        fmt.short_iec(group.swap_bytes),
    ]


def document(rows: Sequence[ProcessRow], sort: str, by: str | None, limit: int) -> dict[str, object]:
    """--json: exact bytes, None where unavailable."""
    names = user_names(rows)
    doc: dict[str, object] = {"sort": sort, "by": by, "limit": limit, "total": processes.total(rows).to_dict()}
    if by is None:
        doc["processes"] = [
            {**row.to_dict(), "user": names.get(row.uid) if row.uid is not None else None}
            for row in processes.sort_rows(rows, sort)[:limit]
        ]
    else:
        groups = processes.sort_groups(processes.group_by(rows, by, names), sort)
        doc["groups"] = [group.to_dict() for group in groups[:limit]]
    return doc
