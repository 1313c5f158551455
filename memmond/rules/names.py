"""The names a rule expression can use, resolved against what this kernel actually offers.

Built from one snapshot of the procfs the daemon reads, so `dirty > 5% * mem_total` is checked against
this kernel's /proc/meminfo at load time, and a name the kernel lacks is a config error that says so
instead of a rule that silently never fires.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from memmond.model.snapshot import DERIVED, Snapshot
from memmond.sources import pressure, vmtunables
from memmond.sources.cgroup import CgroupMemory
from memmond.sources.meminfo import snake_name
from memmond.sources.vmstat import OLD_NAMES, is_counter, lookup

# meminfo fields that exist on some kernels only, to explain their absence.
_KNOWN_ELSEWHERE = {
    "mem_available": "MemAvailable appeared in Linux 3.14",
    "kreclaimable": "KReclaimable appeared in Linux 4.20",
    "zswap": "Zswap appeared in Linux 5.19 (with CONFIG_ZSWAP)",
    "sec_page_tables": "SecPageTables appeared in Linux 6.0",
}


@dataclass(frozen=True, eq=False)
class Series:
    """One name a rule can read. Compared and hashed by identity: the engine looks its windows up by
    series every sample, and a dataclass hash over five fields (a function among them) cost 18 tuple
    hashes a sample. Every expression of a vocabulary gets the same object for a name."""

    name: str
    kind: str  # meminfo, derived, pressure, vmstat, tunable, cgroup, numa
    counter: bool
    get: Callable[[Any], float | None]  # of a Snapshot; of a CgroupMemory when per_cgroup
    per_cgroup: bool = False


# The attribute of a getter that reads one plain /proc/meminfo field, naming it: the rule compiler picks
# all such fields of a function in one call instead of calling each getter.
MEMINFO_FIELD = "meminfo_field"


def _meminfo_getter(field: str) -> Callable[[Snapshot], float | None]:
    def get(snap: Snapshot) -> float | None:  # snap.mem_field() inlined: read by most rules every second
        meminfo = snap.meminfo
        return None if meminfo is None else meminfo.get(field)

    setattr(get, MEMINFO_FIELD, field)
    return get


def _vmstat_getter(field: str) -> Callable[[Snapshot], float | None]:
    return lambda snap: None if snap.vmstat is None else lookup(snap.vmstat, field)


def _derived_getter(name: str) -> Callable[[Snapshot], float | None]:
    return lambda snap: snap.derived().get(name)


def _psi_getter(kind: str, window: str | None) -> Callable[[Any], float | None]:
    """A PSI value of anything with a `pressure` (a Snapshot: the machine; a CgroupMemory: one cgroup)."""

    def get(holder: Snapshot | CgroupMemory) -> float | None:
        line = holder.pressure.line(kind) if holder.pressure is not None else None
        if line is None:
            return None
        return line.total_seconds if window is None else line.avg(window)

    return get


def _cgroup_event_getter(event: str) -> Callable[[CgroupMemory], float | None]:
    return lambda cgroup: cgroup.events.get(event)


def _cgroup_limit_getter(kind: str) -> Callable[[CgroupMemory], float | None]:
    return lambda cgroup: cgroup.limits.get(kind)


# Per-cgroup names, for rules with `for_each: cgroup`: (name, counter, getter, what it holds). The same on
# every host, so a rule compiles whether or not this machine has cgroups yet; a figure a cgroup lacks (no
# limit, no PSI on cgroup v1 alone) is "no data", which never fires a rule.
CGROUP_SERIES: tuple[tuple[str, bool, Callable[[CgroupMemory], float | None], str], ...] = (
    ("cgroup_memory", False, lambda c: c.current, "memory.current / memory.usage_in_bytes"),
    ("cgroup_memory_peak", False, lambda c: c.peak, "memory.peak / memory.max_usage_in_bytes"),
    ("cgroup_memory_max", False, _cgroup_limit_getter("max"), "the hard limit (no data when unlimited)"),
    ("cgroup_memory_high", False, _cgroup_limit_getter("high"), "memory.high (no data when unlimited)"),
    ("cgroup_working_set", False, lambda c: c.working_set, "current - inactive_file"),
    ("cgroup_anon", False, lambda c: c.anon, "anonymous memory"),
    ("cgroup_file", False, lambda c: c.file, "page cache"),
    ("cgroup_shmem", False, lambda c: c.shmem, "shared memory and tmpfs"),
    ("cgroup_kernel", False, lambda c: c.kernel, "kernel memory"),
    ("cgroup_swap", False, lambda c: c.swap, "swap in use"),
    ("cgroup_procs", False, lambda c: c.procs, "processes in the cgroup"),
    ("cgroup_oom_kill", True, _cgroup_event_getter("oom_kill"), "OOM kills (memory.events / oom_control)"),
    ("cgroup_memory_events_max", True, _cgroup_event_getter("max"), "times usage hit the limit"),
    ("cgroup_memory_events_high", True, _cgroup_event_getter("high"), "times usage went over memory.high"),
    *(
        (
            f"cgroup_psi_{kind}_avg{window}",
            False,
            _psi_getter(kind, window),
            f"memory.pressure {kind}, {window} s average (ratio)",
        )
        for kind in pressure.KINDS
        for window in pressure.WINDOWS
    ),
    *(
        (
            f"cgroup_psi_{kind}_total",
            True,
            _psi_getter(kind, None),
            f"memory.pressure {kind}, total stall (seconds)",
        )
        for kind in pressure.KINDS
    ),
)


def _node_ratios(snap: Snapshot) -> list[float]:
    return [
        node.available_bytes / node.meminfo["MemTotal"]
        for node in snap.numa or ()
        if node.available_bytes is not None and node.meminfo.get("MemTotal")
    ]


def _numa_total(stat: str) -> Callable[[Snapshot], float | None]:
    def get(snap: Snapshot) -> float | None:
        values = [node.numastat[stat] for node in snap.numa or () if stat in node.numastat]
        return float(sum(values)) if values else None

    return get


# Machine-wide names over the NUMA nodes (two or more), for rules: the most and least available node, and
# the allocations that missed their node (a counter, summed over nodes).
NUMA_SERIES: tuple[tuple[str, str, bool, Callable[[Snapshot], float | None]], ...] = (
    ("numa_node_available_min_ratio", "numa", False, lambda s: min(_node_ratios(s), default=None)),
    ("numa_node_available_max_ratio", "numa", False, lambda s: max(_node_ratios(s), default=None)),
    ("numa_miss", "numa", True, _numa_total("numa_miss")),
    ("numa_foreign", "numa", True, _numa_total("numa_foreign")),
)


def value_range(name: str) -> tuple[float, float]:
    """What a name can hold: ratios (PSI averages, memory_available_ratio) 0 to 1, everything else (bytes,
    pages, counts, seconds, settings) 0 and up. Lets the compiler reject comparisons that can never hold."""
    derived = DERIVED.get(name)
    ratio = derived is not None and derived.unit == "ratio"
    if ratio or ("psi_" in name and "_avg" in name) or (name.startswith("numa_") and name.endswith("_ratio")):
        return 0.0, 1.0
    return 0.0, float("inf")


def cgroup_names_markdown() -> str:
    """The README's rows of per-cgroup names, generated so they cannot drift from the vocabulary."""
    return "\n".join(
        f"| `{name}` | {what}{' (counter)' if counter else ''} |" for name, counter, _, what in CGROUP_SERIES
    )


def _constant(value: float) -> Callable[[Snapshot], float | None]:
    return lambda snap: value


class Vocabulary:
    def __init__(self, series: Mapping[str, Series], unavailable: Mapping[str, str]) -> None:
        self.series = dict(series)
        self.unavailable = dict(unavailable)  # name -> why this kernel/config has no such value

    @classmethod
    def build(cls, snap: Snapshot, tunables: Mapping[str, int]) -> Vocabulary:
        series: dict[str, Series] = {}
        unavailable: dict[str, str] = {}

        def add(name: str, kind: str, counter: bool, get: Callable[[Snapshot], float | None]) -> None:
            series.setdefault(name, Series(name, kind, counter, get))

        if snap.meminfo is not None:
            for field in snap.meminfo:
                add(snake_name(field), "meminfo", False, _meminfo_getter(field))
            # MemAvailable with the pre-3.14 estimate, so rules work on every kernel.
            series["mem_available"] = Series("mem_available", "meminfo", False, lambda s: s.mem_available)
        for name in DERIVED:
            add(name, "derived", False, _derived_getter(name))
        if snap.numa:
            for name, kind, counter, get in NUMA_SERIES:
                add(name, kind, counter, get)
        else:
            for name, *_ in NUMA_SERIES:
                unavailable[name] = "this host has one NUMA node (or none): nothing to compare"
        if snap.pressure is not None:
            for kind in pressure.KINDS:
                if snap.pressure.line(kind) is None:
                    continue
                for window in pressure.WINDOWS:
                    add(f"psi_{kind}_avg{window}", "pressure", False, _psi_getter(kind, window))
                add(f"psi_{kind}_total", "pressure", True, _psi_getter(kind, None))
        else:
            reason = f"this kernel has no PSI ({snap.errors.get('pressure', '/proc/pressure/memory')})"
            for kind in pressure.KINDS:
                for suffix in (*(f"avg{w}" for w in pressure.WINDOWS), "total"):
                    unavailable[f"psi_{kind}_{suffix}"] = reason
        if snap.vmstat is not None:
            for field in snap.vmstat:
                add(field, "vmstat", is_counter(field), _vmstat_getter(field))
            for new, old in OLD_NAMES.items():
                if new not in snap.vmstat and old in snap.vmstat:
                    add(new, "vmstat", True, _vmstat_getter(new))
        for knob in vmtunables.KNOBS:
            name = f"vm_{knob}"
            if knob in tunables:
                add(name, "tunable", False, _constant(float(tunables[knob])))
            else:
                unavailable[name] = f"/proc/sys/vm/{knob} could not be read"
        for name, counter, get, _what in CGROUP_SERIES:
            series[name] = Series(name, "cgroup", counter, get, per_cgroup=True)
        for name, why in _KNOWN_ELSEWHERE.items():
            if name not in series:
                unavailable.setdefault(name, f"not on this kernel: {why}")
        return cls(series, unavailable)

    def explain_unknown(self, name: str) -> str:
        """Why `name` cannot be used: absent on this kernel, or a typo (with the closest names)."""
        if name in self.unavailable:
            return f"{name!r} is not available: {self.unavailable[name]}"
        import difflib  # only ever needed to explain an error

        close = difflib.get_close_matches(name, list(self.series), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return f"unknown name {name!r}{hint}"
