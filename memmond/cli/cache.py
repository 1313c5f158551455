"""`memmond cache PATH...`: which files the page cache holds, largest resident first (fincore, vmtouch).

A tree like /usr/lib has ten thousand files: the view shows the `--limit` largest and a total of all,
a spinner counts files while the walk takes over half a second, and Ctrl-C ends the walk early with what
was measured so far (said so), rather than losing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Group as Lines
from rich.console import RenderableType
from rich.text import Text

from memmond import format as fmt
from memmond.cli import term
from memmond.sources import pagecache
from memmond.sources.pagecache import PAGE_SIZE, Residency

METHODS = {
    "cachestat": "cachestat(2): counts from the page cache itself",
    "mincore": "mmap + mincore(2): resident or not, no dirty/writeback/evicted counts",
}


@dataclass
class Walk:
    results: list[Residency] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    truncated_at: int | None = None  # --max-files reached
    interrupted: bool = False  # Ctrl-C

    def sorted(self) -> list[Residency]:
        return sorted(self.results, key=lambda r: (r.resident_bytes, r.size_bytes), reverse=True)

    def total(self) -> dict[str, object]:
        pages = sum(r.pages for r in self.results)
        resident = sum(r.resident_pages for r in self.results)
        counted = [r for r in self.results if r.method == "cachestat"]
        return {
            "files": len(self.results),
            "size_bytes": sum(r.size_bytes for r in self.results),
            "resident_bytes": resident * PAGE_SIZE,
            "resident_ratio": resident / pages if pages else 0.0,
            "dirty_bytes": sum(r.dirty_pages or 0 for r in counted) * PAGE_SIZE if counted else None,
            "not_measured": len(self.errors),
        }


def measure(paths: Sequence[str], max_files: int, method: str) -> Walk:
    walk = Walk()
    with term.working("walking", delay=0.5) as say:
        try:
            for count, path in enumerate(pagecache.walk(list(paths), max_files + 1), 1):
                if count > max_files:
                    walk.truncated_at = max_files
                    break
                try:
                    walk.results.append(pagecache.residency(path, method))
                except pagecache.PageCacheError as exc:
                    walk.errors.append(str(exc.strerror or exc))
                if count % 200 == 0:
                    say(f"measured {count:,} files, {fmt.iec(sum(r.resident_bytes for r in walk.results))} cached")
        except KeyboardInterrupt:
            walk.interrupted = True
    return walk


def document(walk: Walk, limit: int | None) -> dict[str, object]:
    files = walk.sorted()
    return {
        "files": [r.to_dict() for r in (files if limit is None else files[:limit])],
        "total": walk.total(),
        "errors": walk.errors,
        "truncated_at": walk.truncated_at,
        "interrupted": walk.interrupted,
    }


def view(walk: Walk, limit: int, summary: bool) -> RenderableType:
    files = walk.sorted()
    total = walk.total()
    counts = any(r.method == "cachestat" for r in files)
    columns = ["PATH", "SIZE", "CACHED", "%"] + (["DIRTY", "EVICTED"] if counts else [])

    def cells(r: Residency) -> list[str]:
        row = [r.path, fmt.short_iec(r.size_bytes), fmt.short_iec(r.resident_bytes), f"{r.resident_ratio:.0%}"]
        if counts:
            row += [
                "-" if r.dirty_pages is None else fmt.short_iec(r.dirty_pages * PAGE_SIZE),
                "-" if r.evicted_pages is None else fmt.short_iec(r.evicted_pages * PAGE_SIZE),
            ]
        return row

    totals = [
        f"total of {total['files']:,} files",
        fmt.short_iec(int(total["size_bytes"])),  # type: ignore[call-overload]
        fmt.short_iec(int(total["resident_bytes"])),  # type: ignore[call-overload]
        f"{total['resident_ratio']:.0%}",
    ]
    if counts:
        dirty = total["dirty_bytes"]
        evicted = sum(r.evicted_pages or 0 for r in files) * PAGE_SIZE
        totals += [fmt.short_iec(int(dirty)) if dirty is not None else "-", fmt.short_iec(evicted)]  # type: ignore[call-overload]
    body = [] if summary else [cells(r) for r in files[:limit]]
    lines: list[RenderableType] = []
    if files:
        shown = "" if summary else f", the {min(limit, len(files)):,} with most cached first"
        lines.append(Text(f"Page cache of {len(files):,} files{shown}", style=term.STYLES["heading"]))
        lines.append(term.table(columns, body, numeric_from=1, flexible=0, totals=totals, cut_middle=True))
        lines.append(Text("; ".join(METHODS[m] for m in sorted({r.method for r in files})), style=term.STYLES["dim"]))
    if walk.interrupted:
        lines.append(Text(f"interrupted (Ctrl-C) after {len(files) + len(walk.errors):,} files", style="yellow"))
    if walk.truncated_at is not None:
        lines.append(Text(f"stopped after {walk.truncated_at:,} files (--max-files)", style="yellow"))
    for error in walk.errors[:10]:
        lines.append(Text(f"not measured: {error}"))
    if len(walk.errors) > 10:
        lines.append(Text(f"... and {len(walk.errors) - 10:,} more not measured"))
    return Lines(*lines)
