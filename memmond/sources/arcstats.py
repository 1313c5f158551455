"""The ZFS ARC: /proc/spl/kstat/zfs/arcstats, in the SPL kstat format of OpenZFS:

    13 1 0x01 123 33472 5176766227 1127357183945574
    name                            type data
    hits                            4    1216458432
    size                            4    10737418240

The first line is the kstat header, the second the column names; then one row a statistic, type 4 an
unsigned 64-bit integer (other types are kept when their data is an integer). Rows this code does not know
are read too; a header that changed is an error that names what was found.
"""

from __future__ import annotations

from memmond.sources._lines import SkippedLine, no_fields_error
from memmond.sources.procfs import ProcFS, SourceError

SOURCE = "arcstats"
PATH = "spl/kstat/zfs/arcstats"


def parse(text: str) -> tuple[dict[str, int], tuple[SkippedLine, ...]]:
    lines = text.splitlines()
    if len(lines) < 2 or lines[1].split()[:3] != ["name", "type", "data"]:
        got = lines[1][:60] if len(lines) > 1 else (lines[0][:60] if lines else "nothing")
        raise SourceError(SOURCE, f"expected a kstat header and 'name type data', got {got!r}")
    values: dict[str, int] = {}
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(lines[2:], 3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()):
            skipped.append(SkippedLine(lineno, line, "expected 'name type data'"))
            continue
        try:
            values[parts[0]] = int(parts[2])
        except ValueError:
            skipped.append(SkippedLine(lineno, line, "data is not an integer"))
    if not values:
        raise no_fields_error(SOURCE, skipped)
    return values, tuple(skipped)


def read(procfs: ProcFS) -> dict[str, int]:
    """SourceUnavailable where ZFS is not loaded."""
    values, _ = parse(procfs.read_text(PATH, SOURCE, records=True))
    return values


def shrinkable_bytes(arc: dict[str, int]) -> int:
    """What the ARC gives back under memory pressure: its size above c_min (the floor it never shrinks
    below). The kernel's MemAvailable does not count it, so without it a ZFS host looks nearly full."""
    return max(0, arc.get("size", 0) - arc.get("c_min", 0))
