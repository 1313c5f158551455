"""/proc/vmstat: every counter the kernel prints, as integers.

The file mixes two kinds of numbers under one format: event counters that only grow (pgfault, pgmajfault,
workingset_refault_file) and current amounts (nr_free_pages, nr_dirty). Rates and Prometheus types depend
on which is which, so `is_counter` holds that knowledge in one place.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping

from memmond.sources._lines import SkippedLine, no_fields_error
from memmond.sources._table import FieldTable, Layout, layout_for
from memmond.sources.procfs import ProcFS

SOURCE = "vmstat"
_last_names = ""
_last_layout: Layout | None = None
PATH = "vmstat"

# nr_* fields are current amounts, except these, which count events since boot (mm/vmstat.c).
_NR_COUNTERS = frozenset(
    {
        "nr_dirtied",
        "nr_written",
        "nr_vmscan_write",
        "nr_vmscan_immediate_reclaim",
        "nr_throttled_written",
        "nr_foll_pin_acquired",
        "nr_foll_pin_released",
        "nr_tlb_remote_flush",
        "nr_tlb_remote_flush_received",
        "nr_tlb_local_flush_all",
        "nr_tlb_local_flush_one",
    }
)
# Not nr_-prefixed, yet current amounts rather than event counts.
_OTHER_GAUGES = frozenset({"workingset_nodes"})


# Counters that were split into _anon and _file in Linux 5.9: the _file name, and what older kernels
# called the (mostly file) counter before.
OLD_NAMES = {
    "workingset_refault_file": "workingset_refault",
    "workingset_activate_file": "workingset_activate",
    "workingset_restore_file": "workingset_restore",
}


_ZONES = ("dma", "dma32", "normal", "movable", "high", "device")
_ZONED = ("pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd", "pgscan_direct", "allocstall")
# counter -> its per-zone fields, as constants: a table picks them in one call (allocstall is per zone
# since 4.10, so the efficiency rates sum it at every scrape)
_ZONED_FIELDS = {name: tuple(f"{name}_{zone}" for zone in _ZONES) for name in _ZONED}


def lookup(values: Mapping[str, int], name: str) -> float | None:
    """A counter under its current name on any kernel: as printed, under its pre-5.9 name (OLD_NAMES),
    or summed over the per-zone counters of kernels before 4.8 (pgsteal/pgscan) and 4.10 (allocstall)."""
    value = values.get(name)
    if value is not None:
        return float(value)
    old = OLD_NAMES.get(name)
    if old is not None and old in values:
        return float(values[old])
    fields = _ZONED_FIELDS.get(name)
    if fields is not None:
        found = values.pick(fields) if isinstance(values, FieldTable) else map(values.get, fields)
        zoned = [value for value in found if value is not None]
        return float(sum(zoned)) if zoned else None
    return None


def spellings(name: str) -> tuple[str, ...]:
    """Every field `lookup` may read for `name`: the name, its pre-5.9 name, its per-zone counters."""
    old = OLD_NAMES.get(name)
    return (name, *((old,) if old else ()), *_ZONED_FIELDS.get(name, ()))


def is_counter(name: str) -> bool:
    """True for monotonically increasing event counters, False for current amounts."""
    if name.startswith("nr_"):
        return name in _NR_COUNTERS
    return name not in _OTHER_GAUGES


class VmStat(FieldTable):
    __slots__ = ()


def parse(text: str) -> VmStat:
    # Fast path: the well-formed file is "name value" pairs, one per line, and vmstat is the largest file
    # in a sample, so when nothing is wrong the whole parse stays in C-level builtins.
    global _last_names, _last_layout
    tokens = text.split()
    names = tokens[0::2]
    # The same names in the same order as last time (every sample, in practice): one string comparison
    # instead of hashing ~200 freshly split names to find the layout, and no line count either: the
    # tokens alternate name, value exactly as in the file the layout was made from. Names never hold
    # whitespace: \n separates.
    key = "\n".join(names)
    if key == _last_names and _last_layout is not None and len(tokens) % 2 == 0:
        layout = _last_layout
    elif tokens and len(tokens) == 2 * text.count("\n") + (0 if text.endswith("\n") else 2):
        layout = layout_for(tuple(names))
        if len(layout.index) != len(layout.names):  # a repeated name: the line parser says which
            return _parse_slow(text.splitlines())
        _last_names, _last_layout = key, layout
    else:
        return _parse_slow(text.splitlines())
    try:
        # int() over the values in C (map), as the line parser reads each one; under the distribution's
        # PGO-built interpreter a fifth cheaper than one JSON array of them, the same under others.
        numbers = array("q", list(map(int, tokens[1::2])))
    except (ValueError, OverflowError):  # not an integer, or past 64 bits: the line parser copes
        return _parse_slow(text.splitlines())
    return VmStat(layout=layout, numbers=numbers)


def _parse_slow(lines: list[str]) -> VmStat:
    values: dict[str, int] = {}
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            skipped.append(SkippedLine(lineno, line, "expected 'name value'"))
            continue
        name, raw = parts
        try:
            number = int(raw)
        except ValueError:
            skipped.append(SkippedLine(lineno, line, f"value {raw!r} is not an integer"))
            continue
        if name in values:
            skipped.append(SkippedLine(lineno, line, f"duplicate field {name}"))
            continue
        values[name] = number
    if not values:
        raise no_fields_error(SOURCE, skipped)
    return VmStat(values, skipped=tuple(skipped))


def read(procfs: ProcFS) -> VmStat:
    return parse(procfs.read_sample_text(PATH, SOURCE))
