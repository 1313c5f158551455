"""One sample of the kernel's memory state, the values derived from it, and the difference of two.

A Snapshot holds what the kernel said (meminfo, vmstat, PSI) plus which sources failed and why; derived
values are computed from it, never stored, so a snapshot loaded from JSON derives the same numbers as the
live one did.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from memmond import __version__
from memmond.sources import arcstats, meminfo, numa, pressure, vmstat
from memmond.sources.meminfo import MemInfo
from memmond.sources.numa import NodeMemory
from memmond.sources.pressure import Pressure, StallLine
from memmond.sources.procfs import ProcFS, SourceError, SourceUnavailable
from memmond.sources.vmstat import VmStat

SNAPSHOT_FORMAT = 1
_NO_ERRORS: Mapping[str, str] = MappingProxyType({})  # shared by every healthy snapshot
_NONE_UNAVAILABLE: frozenset[str] = frozenset()  # CPython makes a new 216-byte one per frozenset() call
SOURCES = (meminfo.SOURCE, vmstat.SOURCE, pressure.SOURCE)
# Sources a kernel may legitimately lack (PSI before 4.20 or with psi=0): their absence is a state. Every
# kernel has meminfo and vmstat, so their absence is a fault and counts as an error.
OPTIONAL_SOURCES = frozenset({pressure.SOURCE})
BOOT_ID_PATH = "sys/kernel/random/boot_id"


class SnapshotFormatError(ValueError):
    """A JSON document that is not a memmond snapshot."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    monotonic: float
    """time.monotonic() at capture: elapsed time between snapshots of one boot."""
    wall_time: float
    """Unix time at capture: for people and for snapshots from different boots."""
    boot_id: str | None
    meminfo: MemInfo | None
    vmstat: VmStat | None
    pressure: Pressure | None
    errors: Mapping[str, str] = field(default_factory=lambda: _NO_ERRORS)
    """source -> why it is down, for every source that could not be read this time."""
    unavailable: frozenset[str] = frozenset()
    """Sources the kernel does not offer at all (no PSI); a subset of `errors`."""
    capture_seconds: float = 0.0
    arc_shrinkable: int | None = None
    """On a ZFS host, what the ARC gives back under pressure (its size above c_min); None elsewhere."""
    numa: tuple[NodeMemory, ...] | None = None
    """On a host of two NUMA nodes or more, each node's memory (the rules' numa_* names); None elsewhere."""
    _derived: dict[str, float] | None = field(default=None, init=False, repr=False, compare=False)

    # -- meminfo access -------------------------------------------------------------------------------
    def mem_field(self, name: str) -> int | None:
        """A meminfo field by kernel name, None when absent (older kernel, or meminfo down)."""
        if self.meminfo is None:
            return None
        return self.meminfo.get(name)

    @property
    def mem_total(self) -> int | None:
        return self.mem_field("MemTotal")

    @property
    def mem_available_estimated(self) -> bool:
        """True when the kernel has no MemAvailable (before 3.14) and memmond estimates it."""
        return self.meminfo is not None and "MemAvailable" not in self.meminfo

    @property
    def mem_available(self) -> int | None:
        """MemAvailable, or on kernels without it the pre-3.14 estimate MemFree + Buffers + Cached,
        which overstates what is available (not all cache can be dropped) but is what free(1) did."""
        available = self.mem_field("MemAvailable")
        if available is not None:
            return available
        parts = [self.mem_field(name) for name in ("MemFree", "Buffers", "Cached")]
        if any(part is None for part in parts):
            return None
        return sum(parts)  # type: ignore[arg-type]

    def derived(self) -> dict[str, float]:
        """Every derived value this snapshot has the inputs for, by name. Computed once per snapshot
        (metrics, extremes and rules all ask); callers must not modify the returned dict."""
        cached = self._derived
        if cached is None:
            cached = _derive(self)
            object.__setattr__(self, "_derived", cached)
        return cached

    def keep_only(self, meminfo_names: tuple[str, ...], vmstat_names: tuple[str, ...]) -> None:
        """Drops every meminfo and vmstat field but these. The history calls it on a sample that has aged
        past what reads whole tables (the rates' window, the flight recorder's seconds before an event):
        the two tables were 2.1 of a sample's 2.7 KB, 2 MB of a full history, and what reads older samples
        (the rules' windows, derived values, the trend API, the extremes after a reload) reads a few fields.
        Give the same tuples each time (constants)."""
        if self.meminfo is not None:
            object.__setattr__(self, "meminfo", self.meminfo.only(meminfo_names))
        if self.vmstat is not None:
            object.__setattr__(self, "vmstat", self.vmstat.only(vmstat_names))

    def forget_derived(self) -> None:
        """Drops the cached derived values (800 bytes a snapshot, 0.8 MB of a full history): the daemon
        calls it when a snapshot stops being the newest, since everything that reads an older one
        (a rule window being refilled, the trend API) is rare and computes them again."""
        object.__setattr__(self, "_derived", None)

    # -- JSON -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "memmond_snapshot": SNAPSHOT_FORMAT,
            "memmond_version": __version__,
            "wall_time": self.wall_time,
            "monotonic": self.monotonic,
            "boot_id": self.boot_id,
            "meminfo_bytes": None,
            "meminfo_counts": None,
            "vmstat": self.vmstat.as_dict() if self.vmstat is not None else None,
            "pressure": None,
            "derived": self.derived(),
            "mem_available_estimated": self.mem_available_estimated,
            "arc_shrinkable_bytes": self.arc_shrinkable,
            "errors": dict(self.errors),
            "unavailable": sorted(self.unavailable),
        }
        if self.meminfo is not None:
            doc["meminfo_bytes"] = {k: v for k, v in self.meminfo.items() if not self.meminfo.is_count(k)}
            doc["meminfo_counts"] = {k: v for k, v in self.meminfo.items() if self.meminfo.is_count(k)}
            doc["meminfo_order"] = list(self.meminfo)
        if self.pressure is not None:
            doc["pressure"] = {
                kind: _stall_to_dict(line) for kind in pressure.KINDS if (line := self.pressure.line(kind)) is not None
            }
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, doc: Any) -> Snapshot:
        if not isinstance(doc, dict) or doc.get("memmond_snapshot") != SNAPSHOT_FORMAT:
            raise SnapshotFormatError(f'not a memmond snapshot (no "memmond_snapshot": {SNAPSHOT_FORMAT})')
        try:
            mem: MemInfo | None = None
            if doc["meminfo_bytes"] is not None:
                byte_fields = {str(k): int(v) for k, v in doc["meminfo_bytes"].items()}
                count_fields = {str(k): int(v) for k, v in (doc.get("meminfo_counts") or {}).items()}
                merged = {**byte_fields, **count_fields}
                order = [name for name in doc.get("meminfo_order", merged) if name in merged]
                order += [name for name in merged if name not in order]
                mem = MemInfo({name: merged[name] for name in order}, frozenset(count_fields))
            vm = VmStat({str(k): int(v) for k, v in doc["vmstat"].items()}) if doc["vmstat"] else None
            psi = None
            if doc["pressure"] is not None:
                psi = Pressure(
                    some=_stall_from_dict(doc["pressure"].get("some")),
                    full=_stall_from_dict(doc["pressure"].get("full")),
                )
            return cls(
                monotonic=float(doc["monotonic"]),
                wall_time=float(doc["wall_time"]),
                boot_id=doc.get("boot_id"),
                meminfo=mem,
                vmstat=vm,
                pressure=psi,
                errors={str(k): str(v) for k, v in (doc.get("errors") or {}).items()},
                unavailable=frozenset(doc.get("unavailable") or ()),
                arc_shrinkable=None if doc.get("arc_shrinkable_bytes") is None else int(doc["arc_shrinkable_bytes"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotFormatError(f"malformed snapshot: {exc.__class__.__name__}: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SnapshotFormatError(f"not JSON: {exc}") from None
        return cls.from_dict(doc)


def _stall_to_dict(line: StallLine) -> dict[str, float | int]:
    return {"avg10": line.avg10, "avg60": line.avg60, "avg300": line.avg300, "total_us": line.total_us}


def _stall_from_dict(doc: Any) -> StallLine | None:
    if doc is None:
        return None
    return StallLine(float(doc["avg10"]), float(doc["avg60"]), float(doc["avg300"]), int(doc["total_us"]))


# -- derived values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    formula: str
    help: str
    unit: str  # "bytes" or "ratio"


_DERIVED_INPUTS = ("MemTotal", "Cached", "Buffers", "Dirty", "Writeback", "Active(file)", "Inactive(file)")
# What is read of an old sample's meminfo besides the rules' own fields: the derived values' inputs,
# MemAvailable (or its estimate from MemFree + Buffers + Cached), and the trend's and extremes' fields
# (MemFree, Active(file), Inactive(file), Dirty, Writeback), all among them. A test checks each reader.
OLD_SAMPLE_MEMINFO = frozenset({*_DERIVED_INPUTS, "MemAvailable", "MemFree"})


def _derive(snap: Snapshot) -> dict[str, float]:
    """Every derived value the snapshot has the inputs for, in DERIVED's order, in one function: it runs
    every sample (extremes, rules, metrics), on caches gone cold since the last one, and a function per
    value reading its fields one call at a time made ~50 calls of it."""
    table = snap.meminfo
    if table is None:
        return {}
    total, cached, buffers, dirty, writeback, active_file, inactive_file = table.pick(_DERIVED_INPUTS)
    derived: dict[str, float] = {}
    available = snap.mem_available
    if available is not None:
        # MemAvailable, plus the ZFS ARC's shrinkable part where there is an ARC: the kernel counts the ARC
        # as used, so a ZFS host with a large ARC looks nearly full by MemAvailable alone.
        available = float(available + (snap.arc_shrinkable or 0))
        derived["memory_available"] = available
    if cached is not None and buffers is not None:
        derived["page_cache"] = float(cached + buffers)
    if total is not None and available is not None:
        derived["memory_used"] = float(total - available)
        if total:  # MemTotal 0 would divide by zero: no ratio rather than a wrong one
            derived["memory_available_ratio"] = available / total
    if dirty is not None and writeback is not None:
        derived["dirty_writeback"] = float(dirty + writeback)
    if active_file is not None and inactive_file is not None:
        derived["reclaimable_file"] = float(active_file + inactive_file)
    return derived


DERIVED: dict[str, Derived] = {
    "memory_available": Derived(
        "MemAvailable (+ ZFS ARC above c_min)",
        "Memory available without swapping: MemAvailable, plus on a ZFS host the ARC's size above c_min, "
        "which the ARC gives back under pressure but the kernel counts as used. What the pressure levels "
        "and the low-memory rules use; the kernel's own figure stays in memmond_meminfo_mem_available_bytes.",
        "bytes",
    ),
    "page_cache": Derived(
        "Cached + Buffers",
        "Page cache: Cached + Buffers. Shmem (tmpfs, shared memory) is inside Cached and cannot be dropped.",
        "bytes",
    ),
    "memory_used": Derived(
        "MemTotal - memory_available",
        "Memory in use: MemTotal - memory_available (what new work could not get without swapping).",
        "bytes",
    ),
    "memory_available_ratio": Derived(
        "memory_available / MemTotal",
        "memory_available / MemTotal, 0 to 1 (ARC-aware on a ZFS host).",
        "ratio",
    ),
    "dirty_writeback": Derived(
        "Dirty + Writeback",
        "Dirty + Writeback: file data in memory not yet on disk.",
        "bytes",
    ),
    "reclaimable_file": Derived(
        "Active(file) + Inactive(file)",
        "Active(file) + Inactive(file): file pages on the LRU lists, which reclaim can drop "
        "(clean ones at once, dirty ones after writeback). Inactive(file) goes first.",
        "bytes",
    ),
}


# -- capture --------------------------------------------------------------------------------------------


class Sampler:
    """Captures snapshots from one procfs root. Reads the boot id once: it cannot change while we run."""

    def __init__(self, procfs: ProcFS | None = None, sysfs: ProcFS | None = None) -> None:
        self.procfs = procfs or ProcFS()
        # Per-node memory every sample only where there are nodes to compare (two or more): the rules'
        # numa_* names need it; a one-node host reads nothing more.
        self._numa = sysfs if sysfs is not None and len(numa.node_ids(sysfs)) >= 2 else None
        try:
            self.boot_id: str | None = self.procfs.read_text(BOOT_ID_PATH).strip() or None
        except SourceError:
            self.boot_id = None
        # The ARC is read every sample on a ZFS host (the levels need it with MemAvailable) and never
        # looked for again elsewhere: one stat at start, not an ENOENT a second on every other host.
        self._arc = self.procfs.path(arcstats.PATH).exists()
        self._last_pressure: pressure.Pressure | None = None
        self._last_pressure_text = ""
        self._readers: dict[str, Callable[[], Any]] = {
            meminfo.SOURCE: lambda: meminfo.read(self.procfs),
            vmstat.SOURCE: lambda: vmstat.read(self.procfs),
            pressure.SOURCE: self._read_pressure,
        }

    def _read_pressure(self) -> pressure.Pressure:
        """The kernel updates the averages every 2 s and an idle host's totals stand still: a file the same
        as the last one parsed is that reading, not parsed again, and most samples of a quiet host share
        one (immutable) object, 0.5 KB each less in the history."""
        text = self.procfs.read_sample_text(pressure.PATH, pressure.SOURCE)
        last = self._last_pressure
        if last is not None and text == self._last_pressure_text:
            return last
        self._last_pressure, self._last_pressure_text = pressure.parse(text), text
        return self._last_pressure

    def _arc_shrinkable(self) -> int | None:
        try:
            return arcstats.shrinkable_bytes(arcstats.read(self.procfs))
        except SourceUnavailable:
            self._arc = False  # the zfs module was unloaded
            return None
        except SourceError:
            return None  # counted by the system sample's arcstats source; the plain value holds meanwhile

    def capture(self) -> Snapshot:
        started = time.monotonic()
        wall = time.time()
        results: dict[str, Any] = {}
        errors: dict[str, str] = {}
        unavailable: set[str] = set()
        for source, reader in self._readers.items():
            try:
                results[source] = reader()
            except SourceUnavailable as exc:
                errors[source] = exc.reason
                if source in OPTIONAL_SOURCES:
                    unavailable.add(source)
            except SourceError as exc:
                errors[source] = exc.reason
        return Snapshot(
            monotonic=started,
            wall_time=wall,
            boot_id=self.boot_id,
            meminfo=results.get(meminfo.SOURCE),
            vmstat=results.get(vmstat.SOURCE),
            pressure=results.get(pressure.SOURCE),
            errors=errors or _NO_ERRORS,
            unavailable=frozenset(unavailable) if unavailable else _NONE_UNAVAILABLE,
            capture_seconds=time.monotonic() - started,
            arc_shrinkable=self._arc_shrinkable() if self._arc else None,
            numa=self._nodes() if self._numa is not None else None,
        )

    def _nodes(self) -> tuple[NodeMemory, ...] | None:
        assert self._numa is not None
        try:
            return tuple(numa.read(self._numa))
        except SourceError:
            return None  # the system sample counts the error; the rules see no data meanwhile
