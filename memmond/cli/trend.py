"""`memmond trend`: the daemon's /api/v1/trend answer in 80 columns (initial, mean and volatility are in
--json)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.console import Group as Lines
from rich.console import RenderableType
from rich.text import Text

from memmond import format as fmt
from memmond.cli import term


def view(doc: Mapping[str, object]) -> RenderableType:
    series = doc["series"]
    assert isinstance(series, dict)
    heading = Text(
        f"Trend over {doc['sample_count']} samples ({fmt.duration(float(doc['seconds']))}), oldest to newest",  # type: ignore[arg-type]
        style=term.STYLES["heading"],
    )
    rows = []
    for name, t in series.items():
        percent = "-" if t["change_percent"] is None else fmt.signed_percent(t["change_percent"] / 100)
        rows.append(
            [
                name,
                fmt.short_iec(t["final"]),
                fmt.signed_short_iec(t["change"]),
                percent,
                t["direction"],
                f"{fmt.signed_short_iec(t['slope_per_second'])}/s",
                fmt.short_iec(t["min"]),
                fmt.short_iec(t["max"]),
            ]
        )
    grid = term.table(["SERIES", "NOW", "CHANGE", "%", "DIRECTION", "SLOPE", "MIN", "MAX"], rows, numeric_from=1)
    grid.columns[4].justify = "left"
    changes = doc.get("pressure_level_changes") or []
    assert isinstance(changes, list)
    levels = ", ".join(
        f"{time.strftime('%H:%M:%S', time.localtime(c['wall_time']))} {c['previous']} -> {c['level']}" for c in changes
    )
    return Lines(heading, grid, Text(f"pressure level changes: {levels or 'none'}"))
