"""A compact read-only mapping of field name -> integer, for files that list the same fields every time.

The daemon keeps up to `history_size` snapshots (1000 by default). Stored as dicts, each sample of
meminfo + vmstat costs ~28 KB (250 freshly allocated key strings, int objects, hash tables); stored as
a shared layout (names and their positions, one object per distinct field list) plus an array of
8-byte numbers it costs ~2.5 KB. The layout cache is bounded so garbage files with ever-changing field
names (fault injection) cannot grow it without limit.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence

from memmond.sources._lines import SkippedLine

_LAYOUT_CACHE_SIZE = 32


class Layout:
    __slots__ = ("counts", "index", "names")

    def __init__(self, names: tuple[str, ...], counts: frozenset[str]) -> None:
        self.names = names
        self.index = {name: position for position, name in enumerate(names)}
        self.counts = counts


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

    def pick(self, names: Sequence[str]) -> list[int | None]:
        """The values of `names` (None for a field the file lacks), in one call: for code that runs every
        sample and wants several fields."""
        position, numbers = self._layout.index.get, self._numbers
        return [None if (at := position(name)) is None else numbers[at] for name in names]

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
