"""/proc/vmstat: every counter the kernel prints, as integers.

The file mixes two kinds of numbers under one format: event counters that only grow (pgfault, pgmajfault,
workingset_refault_file) and current amounts (nr_free_pages, nr_dirty). Rates and Prometheus types depend
on which is which, so `is_counter` holds that knowledge in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from memmond.procfs import ProcFS
from memmond.sources._lines import SkippedLine, no_fields_error

SOURCE = "vmstat"
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


def is_counter(name: str) -> bool:
    """True for monotonically increasing event counters, False for current amounts."""
    if name.startswith("nr_"):
        return name in _NR_COUNTERS
    return name not in _OTHER_GAUGES


@dataclass(frozen=True)
class VmStat(Mapping[str, int]):
    values: dict[str, int]
    skipped: tuple[SkippedLine, ...] = field(default=())

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def parse(text: str) -> VmStat:
    # Fast path: the well-formed file is "name value" pairs, one per line, and vmstat is the largest file
    # in a sample, so when nothing is wrong the whole parse stays in C-level builtins.
    tokens = text.split()
    if tokens and len(tokens) == 2 * text.count("\n") + (0 if text.endswith("\n") else 2):
        names = tokens[0::2]
        try:
            values = dict(zip(names, map(int, tokens[1::2]), strict=True))
        except ValueError:
            pass
        else:
            if len(values) == len(names):
                return VmStat(values)
    return _parse_slow(text.splitlines())


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
    return VmStat(values, tuple(skipped))


def read(procfs: ProcFS) -> VmStat:
    return parse(procfs.read_text(PATH, SOURCE))
