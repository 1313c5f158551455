"""A compact read-only mapping of field name -> integer, for files that list the same fields every time.

The daemon keeps up to `history_size` snapshots (1000 by default). Stored as dicts, each sample of
meminfo + vmstat costs ~28 KB (250 freshly allocated key strings, int objects, hash tables); stored as
a shared layout (names and their positions, one object per distinct field list) plus an array of
8-byte numbers it costs ~2.5 KB. The layout cache is bounded so garbage files with ever-changing field
names (fault injection) cannot grow it without limit.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from memmond.sources._lines import SkippedLine

_LAYOUT_CACHE_SIZE = 32
_PICKERS_PER_LAYOUT = 64


class Layout:
    __slots__ = ("counts", "index", "names", "pickers", "subsets")

    def __init__(self, names: tuple[str, ...], counts: frozenset[str]) -> None:
        self.names = names
        self.index = {name: position for position, name in enumerate(names)}
        self.counts = counts
        # id(names tuple) -> (that tuple, a getter of their positions)
        self.pickers: dict[int, tuple[tuple[str, ...], Callable[[Sequence[int]], tuple[int | None, ...]]]] = {}
        # id(names tuple) -> (that tuple, (the layout of those of them present here, a getter of their values))
        self.subsets: dict[int, tuple[tuple[str, ...], tuple[Layout, Callable[[Sequence[int]], tuple[int, ...]]]]] = {}

    def picker(self, names: tuple[str, ...]) -> Callable[[Sequence[int]], tuple[int | None, ...]]:
        """What `FieldTable.pick` runs for `names` on this layout (the look-up inline: every pick runs it)."""
        kept = self.pickers.get(id(names))
        if kept is not None and kept[0] is names:
            return kept[1]
        return _remember(self.pickers, names, self._picker(names))

    def _picker(self, names: tuple[str, ...]) -> Callable[[Sequence[int]], tuple[int | None, ...]]:
        return _getter_with_gaps([self.index.get(name) for name in names])

    def subset(self, names: tuple[str, ...]) -> tuple[Layout, Callable[[Sequence[int]], tuple[int, ...]]]:
        """The layout of those of `names` present here, in their order, and a getter of their values: what
        `FieldTable.only` runs, once a sample."""
        kept = self.subsets.get(id(names))
        if kept is not None and kept[0] is names:
            return kept[1]
        return _remember(self.subsets, names, self._subset(names))

    def _subset(self, names: tuple[str, ...]) -> tuple[Layout, Callable[[Sequence[int]], tuple[int, ...]]]:
        present = tuple(name for name in names if name in self.index)
        layout = layout_for(present, self.counts.intersection(present))
        getter = tuple_getter([self.index[name] for name in present]) if present else (lambda numbers: ())
        return layout, getter


_Made = TypeVar("_Made")


def _remember(cache: dict[int, tuple[tuple[str, ...], _Made]], names: tuple[str, ...], made: _Made) -> _Made:
    """Keeps what was made for a tuple of names under the tuple's identity (the callers' tuples are
    constants), so the next look-up hashes and compares no name, each a cache miss on the cold caches a
    sample runs on; bounded, for callers that make their tuples anew."""
    if len(cache) >= _PICKERS_PER_LAYOUT:
        cache.clear()
    cache[id(names)] = (names, made)
    return made


def _getter_with_gaps(positions: list[int | None]) -> Callable[[Sequence[int]], tuple[int | None, ...]]:
    """A getter of `positions`, None where a position is None (a field this layout lacks)."""
    present = [at for at in positions if at is not None]
    if not present:  # (also no names at all)
        nothing = (None,) * len(positions)
        return lambda numbers: nothing
    if len(present) == len(positions):
        return tuple_getter(present)
    get = tuple_getter(present)
    mask = tuple(at is not None for at in positions)

    def getter(numbers: Sequence[int]) -> tuple[int | None, ...]:
        found = iter(get(numbers))
        return tuple(next(found) if there else None for there in mask)

    return getter


def tuple_getter(positions: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """operator.itemgetter, but a 1-tuple for one position too (itemgetter returns the bare item)."""
    if len(positions) == 1:
        only = positions[0]
        return lambda items: (items[only],)
    return operator.itemgetter(*positions)


_layouts: dict[tuple[tuple[str, ...], frozenset[str]], Layout] = {}


def layout_for(names: tuple[str, ...], counts: frozenset[str] = frozenset()) -> Layout:
    key = (names, counts)
    layout = _layouts.get(key)
    if layout is None:
        if len(_layouts) >= _LAYOUT_CACHE_SIZE:
            _layouts.clear()
        layout = _layouts[key] = Layout(names, counts)
    return layout


def pack(numbers: Iterable[int]) -> Sequence[int]:
    """8 bytes a number; a tuple for the (never seen) value outside signed 64 bits."""
    numbers = list(numbers)
    try:
        return array("q", numbers)
    except OverflowError:
        return tuple(numbers)


class FieldTable(Mapping[str, int]):
    """Fields in file order. Equal to any mapping with the same items."""

    __slots__ = ("_layout", "_numbers", "skipped")

    def __init__(
        self,
        values: Mapping[str, int] | None = None,
        count_fields: Iterable[str] = (),
        skipped: tuple[SkippedLine, ...] = (),
        *,
        layout: Layout | None = None,
        numbers: Sequence[int] | None = None,
    ) -> None:
        if layout is None or numbers is None:
            values = values or {}
            layout = layout_for(tuple(values), frozenset(count_fields))
            numbers = pack(values.values())
        self._layout = layout
        self._numbers = numbers
        self.skipped = skipped

    def __getitem__(self, name: str) -> int:
        return self._numbers[self._layout.index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._layout.index

    def get(self, name: str, default: int | None = None) -> int | None:  # type: ignore[override]
        position = self._layout.index.get(name)
        return default if position is None else self._numbers[position]

    def pick(self, names: tuple[str, ...]) -> tuple[int | None, ...]:
        """The values of `names` (None for a field the file lacks), in one call: for code that runs every
        sample and wants several fields. Give the same tuple object each time (a constant)."""
        return self._layout.picker(names)(self._numbers)

    def only(self, names: tuple[str, ...]) -> FieldTable:
        """A table of the same kind with just these of its fields (in the order of `names`), for a sample
        kept long after most of its fields stopped mattering. Give the same tuple each time (a constant)."""
        layout, values = self._layout.subset(names)
        return type(self)(layout=layout, numbers=pack(values(self._numbers)))

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.names)

    def __len__(self) -> int:
        return len(self._layout.names)

    def items(self):  # type: ignore[no-untyped-def,override]
        return zip(self._layout.names, self._numbers, strict=True)

    def as_dict(self) -> dict[str, int]:
        """A plain dict copy (for JSON and tests); the table itself is the cheap form."""
        return dict(zip(self._layout.names, self._numbers, strict=True))

    @property
    def names(self) -> tuple[str, ...]:
        """The field names in file order: the same tuple object for every table of one layout."""
        return self._layout.names

    @property
    def numbers(self) -> Sequence[int]:
        """The values in the order of `names` (read-only: shared with the table)."""
        return self._numbers

    @property
    def count_fields(self) -> frozenset[str]:
        return self._layout.counts

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_dict()!r})"
