"""Recent samples: a bounded ring of snapshots, and sliding-window extremes kept in O(1) per sample.

Extremes exist so a dip or spike shorter than the scrape interval is not lost between two scrapes; they
are computed with monotonic deques, so their cost does not grow with the window (600 samples at 10 Hz).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from memmond.model.snapshot import Snapshot


class History:
    """The last `size` snapshots, oldest first."""

    def __init__(self, size: int) -> None:
        self._ring: deque[Snapshot] = deque(maxlen=size)
        self._meminfo_kept: tuple[str, ...] | None = None  # None: samples keep every field
        self._vmstat_kept: tuple[str, ...] = ()
        self._whole = 0  # how many of the newest samples have not been thinned yet

    def thin(self, meminfo: Iterable[str], vmstat: Iterable[str]) -> None:
        """The meminfo and vmstat fields a sample keeps once `thin_before` passes it: what reads whole
        tables reads recent samples, and a full history of whole tables was 80 % of its memory. Samples
        already thinned keep what they kept: a rule a reload adds over a field nothing read before has
        no data until its window is covered by samples that carry the field (SeriesWindow.feed)."""
        self._meminfo_kept = tuple(sorted(set(meminfo)))
        self._vmstat_kept = tuple(sorted(set(vmstat)))

    def append(self, snap: Snapshot) -> None:
        self._ring.append(snap)
        self._whole = min(self._whole + 1, len(self._ring))

    def thin_before(self, monotonic: float) -> None:
        """Thins the samples taken before `monotonic` (the caller's oldest sample still read whole), each
        once, as it ages past: by the readers' own horizon, not a count, so a gap in sampling or samples
        closer together than the interval never thin one that is still read whole."""
        kept = self._meminfo_kept
        if kept is None:
            return
        ring, whole = self._ring, self._whole
        while whole and ring[-whole].monotonic < monotonic:
            ring[-whole].keep_only(kept, self._vmstat_kept)
            whole -= 1
        self._whole = whole

    def resize(self, size: int) -> None:
        if size != self._ring.maxlen:
            self._ring = deque(self._ring, maxlen=size)

    @property
    def samples(self) -> deque[Snapshot]:
        """The ring itself, oldest first: indexable at both ends and reversible, for rule windows."""
        return self._ring

    @property
    def size(self) -> int:
        return self._ring.maxlen or 0

    def __len__(self) -> int:
        return len(self._ring)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self._ring)

    def latest(self, count: int) -> list[Snapshot]:
        """The newest `count` snapshots, oldest first."""
        if count <= 0:
            return []
        return list(self._ring)[-count:]


# name -> (keep max?, what it is); the values come from extreme_values, in this order
EXTREMES: dict[str, tuple[bool, str]] = {
    "mem_available_min_bytes": (False, "Lowest MemAvailable"),
    "mem_free_min_bytes": (False, "Lowest MemFree"),
    "page_cache_min_bytes": (False, "Smallest page cache (Cached + Buffers)"),
    "memory_used_max_bytes": (True, "Highest MemTotal - MemAvailable"),
    "dirty_max_bytes": (True, "Highest Dirty"),
    "writeback_max_bytes": (True, "Highest Writeback"),
}
_EXTREME_FIELDS = ("MemFree", "Dirty", "Writeback")


def extreme_values(snap: Snapshot) -> tuple[float | int | None, ...]:
    """The values of EXTREMES, in its order, from one snapshot: in one function (every sample)."""
    table = snap.meminfo
    if table is None:
        return (None,) * len(EXTREMES)
    free, dirty, writeback = table.pick(_EXTREME_FIELDS)
    derived = snap.derived()
    return (snap.mem_available, free, derived.get("page_cache"), derived.get("memory_used"), dirty, writeback)


class Extremes:
    """All window extremes memmond exports: for each, a deque of (time, value) whose values only rise (a
    minimum's) or only fall (a maximum's), so its first entry is the extreme of the window. A sample only
    notes its six values; the deques take them in when the extremes are read (a scrape every 5-15 s) or
    when PENDING_MAX have gathered: one warm pass over a few samples instead of a cold one every sample."""

    PENDING_MAX = 64

    def __init__(self, window: float) -> None:
        self.window = window
        self._entries: dict[str, deque[tuple[float, float]]] = {name: deque() for name in EXTREMES}
        self._plan = [(keep_max, self._entries[name]) for name, (keep_max, _) in EXTREMES.items()]
        self._pending: list[tuple[float, tuple[float | int | None, ...]]] = []

    def add(self, snap: Snapshot) -> None:
        pending = self._pending
        pending.append((snap.monotonic, extreme_values(snap)))
        if len(pending) >= self.PENDING_MAX:
            self._take_pending()

    def _take_pending(self) -> None:
        window = self.window
        for now, values in self._pending:
            horizon = now - window
            for (keep_max, entries), value in zip(self._plan, values, strict=True):
                if value is None:
                    continue
                value = float(value)
                if keep_max:
                    while entries and value >= entries[-1][1]:
                        entries.pop()
                else:
                    while entries and value <= entries[-1][1]:
                        entries.pop()
                entries.append((now, value))
                while entries[0][0] < horizon:
                    entries.popleft()
        self._pending.clear()

    def values(self) -> dict[str, float]:
        self._take_pending()
        return {name: entries[0][1] for name, entries in self._entries.items() if entries}
