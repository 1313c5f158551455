"""The flight recorder: the last seconds of memory at high resolution, kept so an event can show what led
up to it, and the event record built from it.

A point is a handful of numbers (MemAvailable, MemFree, page cache, anon, dirty, the PSI stall totals,
and, in fast mode, the reclaim counters of vmstat), stored in one preallocated float array a field: 60 s
at 10 Hz is 600 points x 14 fields x 8 bytes = 67 KB, and recording a point allocates nothing that
lives on.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memmond.sources.cgroup import CgroupMemory
from memmond.sources.meminfo import MemInfo
from memmond.sources.pressure import Pressure
from memmond.sources.vmstat import VmStat

# (field, where it comes from); vmstat fields are counters, read in fast mode only (NaN otherwise)
FIELDS: tuple[str, ...] = (
    "monotonic",
    "wall_time",
    "mem_available_bytes",
    "mem_free_bytes",
    "page_cache_bytes",
    "anon_bytes",
    "dirty_bytes",
    "psi_some_seconds",
    "psi_full_seconds",
    "pgscan",
    "pgsteal",
    "pgmajfault",
    "workingset_refault_file",
    "oom_kill",
)
_VMSTAT = {
    "pgscan": ("pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged"),
    "pgsteal": ("pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged"),
    "pgmajfault": ("pgmajfault",),
    "workingset_refault_file": ("workingset_refault_file",),
    "oom_kill": ("oom_kill",),
}
NAN = math.nan


def point(
    monotonic: float,
    wall_time: float,
    meminfo: MemInfo | None,
    pressure: Pressure | None,
    vmstat: VmStat | None = None,
) -> list[float]:
    """One point in FIELDS order; NaN for what this sample did not read. Runs at every sample: plain
    lookups, no closures."""
    out = [monotonic, wall_time]
    if meminfo is None:
        out += (NAN,) * 5
    else:
        get = meminfo.get
        cached, buffers = get("Cached"), get("Buffers")
        for value in (get("MemAvailable"), get("MemFree")):
            out.append(NAN if value is None else float(value))
        out.append(NAN if cached is None or buffers is None else float(cached + buffers))
        for value in (get("AnonPages"), get("Dirty")):
            out.append(NAN if value is None else float(value))
    for kind in ("some", "full"):
        line = pressure.line(kind) if pressure is not None else None
        out.append(NAN if line is None else line.total_seconds)
    if vmstat is None:
        out += (NAN,) * len(_VMSTAT)
    else:
        for names in _VMSTAT.values():
            known = [value for value in map(vmstat.get, names) if value is not None]
            out.append(float(sum(known)) if known else NAN)
    return out


def rows(points: Iterable[Sequence[float]]) -> list[list[float | None]]:
    """Points as a record holds them: NaN as None (JSON has no NaN)."""
    return [[None if value != value else value for value in point] for point in points]


class FlightRecorder:
    """A ring of points, oldest overwritten first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(2, capacity)
        self._columns = [array("d", bytes(8 * self.capacity)) for _ in FIELDS]
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, values: Sequence[float]) -> None:
        slot = self._next
        for column, value in zip(self._columns, values, strict=True):
            column[slot] = value
        self._next = (slot + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def points(self, since: float = -math.inf, until: float = math.inf) -> list[list[float | None]]:
        """The points with monotonic time in [since, until], oldest first, as rows in FIELDS order with NaN
        as None (JSON has no NaN): rows, not dicts, so a 70 s record is ~100 KB of JSON, not 300."""
        out = []
        start = (self._next - self._count) % self.capacity
        times = self._columns[0]
        for offset in range(self._count):
            slot = (start + offset) % self.capacity
            if since <= times[slot] <= until:
                out.append([None if math.isnan(column[slot]) else column[slot] for column in self._columns])
        return out

    @property
    def nbytes(self) -> int:
        return sum(column.itemsize * len(column) for column in self._columns)


@dataclass
class EventRecord:
    """One memory event: what fired, when, and the seconds around it."""

    id: str
    started_wall: float
    started_monotonic: float
    triggers: list[dict[str, object]] = field(default_factory=list)  # each firing, in order (bounded)
    ended_wall: float | None = None
    ended_monotonic: float | None = None
    points: list[list[float | None]] = field(default_factory=list)  # rows in FIELDS order
    cgroups: list[dict[str, object]] = field(default_factory=list)
    oom_kills: list[dict[str, object]] = field(default_factory=list)
    triggers_dropped: int = 0

    @property
    def trigger(self) -> str:
        return str(self.triggers[0]["trigger"]) if self.triggers else ""

    def summary(self) -> dict[str, object]:
        """The list view: no points, the headline figures."""
        available = column(self.points, "mem_available_bytes")
        some = column(self.points, "psi_some_seconds")
        return {
            "id": self.id,
            "trigger": self.trigger,
            "started": self.started_wall,
            "ended": self.ended_wall,
            "duration_seconds": None if self.ended_wall is None else round(self.ended_wall - self.started_wall, 3),
            "triggers": len(self.triggers) + self.triggers_dropped,
            "min_available_bytes": min(available) if available else None,  # type: ignore[type-var]
            "stalled_seconds": round(some[-1] - some[0], 6) if len(some) > 1 else None,  # type: ignore[operator]
            "oom_kills": len(self.oom_kills),
            "top_cgroup": self.cgroups[0]["cgroup"] if self.cgroups else None,
        }

    def to_dict(self) -> dict[str, object]:
        return {
            **self.summary(),
            "started_monotonic": self.started_monotonic,
            "ended_monotonic": self.ended_monotonic,
            "trigger_list": self.triggers,
            "triggers_dropped": self.triggers_dropped,
            "fields": list(FIELDS),
            "points": self.points,
            "cgroups": self.cgroups,
            "oom_kill_list": self.oom_kills,
        }


def column(points: Sequence[Sequence[float | None]], name: str) -> list[float]:
    """One field of a record's rows, without the points that lack it."""
    index = FIELDS.index(name)
    return [row[index] for row in points if row[index] is not None]  # type: ignore[misc]


def movers(before: Iterable[CgroupMemory], after: Iterable[CgroupMemory], limit: int = 5) -> list[dict[str, object]]:
    """The cgroups that grew or stalled most between two walks: by memory growth, then by stall time."""
    old: Mapping[str, CgroupMemory] = {c.path: c for c in before}
    out = []
    for cgroup in after:
        if cgroup.path in ("other", "/"):  # the root is the machine, which the points show already
            continue
        previous = old.get(cgroup.path)
        grown = (cgroup.current or 0) - (previous.current or 0) if previous is not None else None
        stalled = None
        line_now = cgroup.pressure.line("some") if cgroup.pressure is not None else None
        line_then = previous.pressure.line("some") if previous is not None and previous.pressure is not None else None
        if line_now is not None and line_then is not None:
            stalled = round(line_now.total_seconds - line_then.total_seconds, 6)
        if (grown or 0) <= 0 and (stalled or 0) <= 0:
            continue
        out.append(
            {
                "cgroup": cgroup.path,
                "unit": cgroup.unit,
                "memory_bytes": cgroup.current,
                "grown_bytes": grown,
                "stalled_seconds": stalled,
            }
        )
    # stall first: it is what the event is about; growth breaks ties and ranks the cgroups that did not stall
    out.sort(key=lambda c: (c["stalled_seconds"] or 0, c["grown_bytes"] or 0), reverse=True)  # type: ignore[arg-type,return-value]
    return out[:limit]


SUFFIX = ".json"  # a record file: <id>.json
SUMMARY_KEYS = (
    "id",
    "trigger",
    "started",
    "ended",
    "duration_seconds",
    "triggers",
    "min_available_bytes",
    "stalled_seconds",
    "oom_kills",
    "top_cgroup",
)


def summary_of(record: Mapping[str, object]) -> dict[str, object]:
    """The list view of a record read back from its file."""
    return {key: record.get(key) for key in SUMMARY_KEYS}


def read_record(path: Path) -> dict[str, object] | None:
    """A record file's content, or None when it is missing, truncated or not a record."""
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or "points" not in record:
        return None
    return record
