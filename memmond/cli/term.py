"""The terminal for people's views, on rich: tables that fit the width, colour, a spinner for slow work.

Only the CLI's view commands import this module, never `memmond run`: rich costs the daemon's 25 MB RSS
budget several MB (a test proves the daemon never loads it). Colour appears only on a terminal and never
with NO_COLOR (rich honours both); piped output is plain and 80 columns wide unless COLUMNS says
otherwise, which is what the golden tests compare.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from memmond import format as fmt

SEPARATOR = 3  # columns between two table columns: padding, rule gap, padding

# One style per meaning, so every view colours alike.
STYLES = {
    "low": "green",
    "medium": "yellow",
    "high": "red",
    "critical": "bold red",
    "warning": "yellow",
    "info": "cyan",
    "firing": "bold red",
    "pending": "yellow",
    "heading": "bold",
    "dim": "dim",
    "total": "bold",
}


def console(stderr: bool = False) -> Console:
    """stdout's (or stderr's) console. NO_COLOR (no-color.org) turns every style off, bold included: rich
    alone would drop the colours but keep the bold escapes."""
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=sys.stderr if stderr else sys.stdout,
        color_system=None if plain else "auto",
        highlight=False,
        soft_wrap=False,
        emoji=False,
    )


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric_from: int = 1,
    flexible: int = 0,
    totals: Sequence[str] | None = None,
    width: int | None = None,
    cut_middle: bool = False,
) -> Table:
    """A borderless table that fits the width: the columns before `numeric_from` are text, the rest
    right-aligned numbers. Every column keeps its widest cell except `flexible` (a name or path), which
    gives up what the width lacks and is cut with "…" (in the middle with `cut_middle`: a path keeps its
    file name). `totals` is a last row under a rule."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    everything = [list(columns), *map(list, rows), *([list(totals)] if totals else [])]
    widest = [max(cell_len(row[index]) for row in everything) for index in range(len(columns))]
    room = (width or console().width) - SEPARATOR * (len(columns) - 1)
    for index, name in enumerate(columns):
        fixed = widest[index]
        if index == flexible:  # what the others leave, at least 8 columns
            fixed = min(fixed, max(8, room - sum(widest) + widest[index]))
        grid.add_column(
            name,
            justify="right" if index >= numeric_from else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=fixed,
        )
    room_left = grid.columns[flexible].width or 8
    for row in rows:
        if cut_middle:
            row = [fmt.cut_middle(cell, room_left) if i == flexible % len(row) else cell for i, cell in enumerate(row)]
        grid.add_row(*row)
    if totals:
        grid.add_section()
        grid.add_row(*totals, style=STYLES["total"])
    return grid


@contextmanager
def working(message: str, delay: float = 0.5) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while slow work runs, shown only when it takes over `delay` seconds and stderr
    is a terminal: a quick command prints nothing extra, a pipe gets no control characters. Yields a
    function that changes the spinner's words (progress)."""
    err = console(stderr=True)
    if not err.is_terminal:
        yield lambda text: None
        return
    status = err.status(message)
    timer = threading.Timer(delay, status.start)
    timer.daemon = True
    timer.start()
    try:
        yield lambda text: status.update(text)
    finally:
        timer.cancel()
        status.stop()
