"""`memmond slab`: the kernel's slab caches by size, like `slabtop --once` sorted and in human units.
/proc/slabinfo is root's; the unprivileged totals are in `memmond show` (Slab, SReclaimable, SUnreclaim)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group as Lines
from rich.console import RenderableType
from rich.text import Text

from memmond import format as fmt
from memmond.cli import term
from memmond.sources.slabinfo import SlabCache

SORTS = {
    "size": lambda c: c.size_bytes,
    "active": lambda c: c.active_bytes,
    "objects": lambda c: c.objects,
}


def ordered(caches: Sequence[SlabCache], sort: str) -> list[SlabCache]:
    return sorted(caches, key=lambda c: (SORTS[sort](c), c.name), reverse=True)


def view(caches: Sequence[SlabCache], sort: str, limit: int, slab_bytes: int | None) -> RenderableType:
    shown = ordered(caches, sort)[:limit]
    body = [
        [
            c.name,
            fmt.short_iec(c.size_bytes),
            fmt.short_iec(c.active_bytes),
            f"{c.active_objects / c.objects:.0%}" if c.objects else "-",
            fmt.group(c.objects),
            fmt.short_iec(c.object_size),
        ]
        for c in shown
    ]
    total = sum(c.size_bytes for c in caches)
    totals = [
        f"total of {len(caches)} caches",
        fmt.short_iec(total),
        fmt.short_iec(sum(c.active_bytes for c in caches)),
        "",
        "",
        "",
    ]
    heading = f"Slab caches by {sort} ({len(shown)} of {len(caches)})"
    lines: list[RenderableType] = [
        Text(heading, style=term.STYLES["heading"]),
        term.table(["CACHE", "SIZE", "ACTIVE", "USE", "OBJECTS", "OBJ SIZE"], body, totals=totals),
    ]
    if slab_bytes is not None:
        lines.append(
            Text(
                f"/proc/meminfo Slab: {fmt.iec(slab_bytes)} (the caches' pages, per-CPU partial slabs aside)",
                style=term.STYLES["dim"],
            )
        )
    return Lines(*lines)
