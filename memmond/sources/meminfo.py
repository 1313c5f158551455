"""/proc/meminfo: every field the kernel prints, in bytes (kB fields) or as counts (HugePages_*).

No fixed field list: kernels add fields (Zswap, SecPageTables, Unaccepted, ...) and drop others, and a
fixed list would either invent zeros for absent fields or silently lose new ones.
"""

from __future__ import annotations

import operator
import re
from array import array

from memmond.sources._lines import SkippedLine, no_fields_error
from memmond.sources._table import FieldTable, Layout, layout_for, pack, tuple_getter
from memmond.sources.procfs import ProcFS

SOURCE = "meminfo"
PATH = "meminfo"

# The kernel's "kB" is 1024 bytes (show_val_kb shifts pages by PAGE_SHIFT - 10).
KIB = 1024


class MemInfo(FieldTable):
    """Fields in kernel order under their kernel names (`MemTotal`, `Active(file)`), bytes or counts."""

    __slots__ = ()

    def is_count(self, name: str) -> bool:
        """True for unit-less fields (HugePages_Total, ...): a number of pages, not bytes."""
        return name in self._layout.counts


# One well-formed line: "Name:   value kB" or "Name:   value" (HugePages_*).
_LINE = re.compile(r"^([^:\s][^:\n]*):[ \t]*(\d+)( kB)?[ \t]*$", re.MULTILINE)


class _Plan:
    """Where names, values and kB units fall in `text.split()` for one field layout: a file with the same
    fields as last time (every sample, in practice) is parsed by position, its names and units checked
    as one string against the last layout's, with C-level item getters instead of the regex pass. One
    string, not a tuple of ~110 names and units compared one by one: the daemon parses once a second on
    cold caches, and each cached name it compared was a cache miss (a third of meminfo's cost then)."""

    __slots__ = ("key", "key_of", "layout", "multipliers", "tokens", "values_of")

    def __init__(self, layout: Layout, kib: tuple[bool, ...]) -> None:
        self.layout = layout
        labels: list[int] = []  # the positions of names and units
        values: list[int] = []
        position = 0
        for has_unit in kib:
            labels.append(position)
            values.append(position + 1)
            if has_unit:
                labels.append(position + 2)
            position += 3 if has_unit else 2
        self.tokens = position
        self.key_of = tuple_getter(labels)
        self.key = "\n".join(
            token
            for name, has_unit in zip(layout.names, kib, strict=True)
            for token in ((name + ":", "kB") if has_unit else (name + ":",))
        )
        self.values_of = tuple_getter(values)
        self.multipliers = tuple(KIB if has_unit else 1 for has_unit in kib)


_plan: _Plan | None = None


def _by_plan(text: str) -> MemInfo | None:
    plan = _plan
    if plan is None:
        return None
    tokens = text.split()
    if len(tokens) != plan.tokens or "\n".join(plan.key_of(tokens)) != plan.key:
        return None
    try:  # int() and the kB multiplier over the values in C (map): no bytecode a field
        numbers = array("q", list(map(operator.mul, map(int, plan.values_of(tokens)), plan.multipliers)))
    except (ValueError, OverflowError):  # not an integer, or past 64 bits: the regex and line parsers cope
        return None
    return MemInfo(layout=plan.layout, numbers=numbers)


def parse(text: str) -> MemInfo:
    global _plan
    known = _by_plan(text)
    if known is not None:
        return known
    # One regex pass; valid when every line matched and no name repeats. Anything odd goes to the
    # line-by-line parser, which says what it skipped.
    matches = _LINE.findall(text)
    if matches and len(matches) == text.count("\n") + (0 if text.endswith("\n") else 1):
        names = tuple(name for name, _, _ in matches)
        counts = frozenset(name for name, _, kb in matches if not kb)
        layout = layout_for(names, counts)
        if len(layout.index) == len(names):  # no repeated name
            numbers = pack(int(number) * KIB if kb else int(number) for _, number, kb in matches)
            if all(" " not in name and "\t" not in name for name in names):  # split() keeps such names whole
                _plan = _Plan(layout, tuple(bool(kb) for _, _, kb in matches))
            return MemInfo(layout=layout, numbers=numbers)
    return _parse_lines(text)


def _parse_lines(text: str) -> MemInfo:
    values: dict[str, int] = {}
    counts: set[str] = set()
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        name, colon, rest = line.partition(":")
        parts = rest.split()
        name = name.strip()
        if not colon or not name or not parts or len(parts) > 2:
            if line.strip():
                skipped.append(SkippedLine(lineno, line, "expected 'Name: value [kB]'"))
            continue
        try:
            number = int(parts[0])
        except ValueError:
            skipped.append(SkippedLine(lineno, line, f"value {parts[0]!r} is not an integer"))
            continue
        if len(parts) == 2:
            if parts[1] != "kB":
                skipped.append(SkippedLine(lineno, line, f"unknown unit {parts[1]!r}"))
                continue
            number *= KIB
        else:
            counts.add(name)
        if name in values:
            skipped.append(SkippedLine(lineno, line, f"duplicate field {name}"))
            continue
        values[name] = number
    if not values:
        raise no_fields_error(SOURCE, skipped)
    return MemInfo(values, frozenset(counts), tuple(skipped))


def read(procfs: ProcFS) -> MemInfo:
    return parse(procfs.read_sample_text(PATH, SOURCE))


_PAREN = re.compile(r"\((\w+)\)")
# Split camelCase, an acronym from the next word (GPUActive -> gpu_active), and letters from digits. A lone
# leading capital stays attached (SReclaimable -> sreclaimable): "s_" would read as a seconds unit.
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z]{2})(?=[A-Z][a-z])|(?<=[a-z])(?=[0-9])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake_name(field_name: str) -> str:
    """Kernel field name to the snake_case name used in metrics and rule expressions.

    MemTotal -> mem_total, Active(file) -> active_file, SReclaimable -> sreclaimable,
    HugePages_Total -> huge_pages_total, DirectMap2M -> direct_map_2m, Committed_AS -> committed_as.
    """
    name = _PAREN.sub(r"_\1", field_name)
    name = _CAMEL.sub("_", name).lower()
    return _NON_WORD.sub("_", name).strip("_")
