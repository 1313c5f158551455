"""The memory subsystems beyond /proc/meminfo, read together: NUMA nodes, huge page pools, transparent
huge pages, KSM, zram, zswap and the ZFS ARC. Each is present only where the kernel has it (absent, not
zero, elsewhere). They move slowly and every read is paid for on every host of a fleet, so the daemon
reads them at their own interval (`system.interval`, 15 s), not every sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memmond.sources import arcstats, hugepages, ksm, numa, zram, zswap
from memmond.sources.hugepages import HugePagePool
from memmond.sources.numa import NodeMemory
from memmond.sources.procfs import ProcFS, SourceError, SourceUnavailable
from memmond.sources.zram import ZramDevice


@dataclass(frozen=True)
class SystemSample:
    monotonic: float
    nodes: tuple[NodeMemory, ...] = ()
    hugepages: tuple[HugePagePool, ...] = ()
    thp: dict[str, str] = field(default_factory=dict)  # setting -> mode
    ksm: dict[str, int] = field(default_factory=dict)
    zram: tuple[ZramDevice, ...] = ()
    zswap: dict[str, str] = field(default_factory=dict)  # parameter -> value
    zswap_stats: dict[str, int] = field(default_factory=dict)  # debugfs counter -> value (root only)
    arc: dict[str, int] = field(default_factory=dict)  # arcstats row -> value
    errors: dict[str, str] = field(default_factory=dict)  # source -> why it failed this time
    unavailable: frozenset[str] = frozenset()  # sources this kernel does not have

    @property
    def arc_shrinkable_bytes(self) -> int | None:
        return arcstats.shrinkable_bytes(self.arc) if self.arc else None


def sample(
    procfs: ProcFS, sysfs: ProcFS, previous: SystemSample | None = None, settings: bool = True, one_node: bool = True
) -> SystemSample:
    """One reading of every subsystem. A source that fails is named in `errors` and the others still
    come: a zram device reset mid-read or an unreadable file costs that source, not the sample.

    The daemon reads the settings (THP modes, zswap parameters) only every few samples (`settings`
    False: taken from `previous`, as are the sources found missing then), and a one-node host's node files
    not at all (`one_node` False): they repeat /proc/meminfo, and every read is paid for on every host."""
    found: dict[str, Any] = {}
    errors: dict[str, str] = {}
    unavailable: set[str] = set()

    def nodes() -> tuple[NodeMemory, ...]:
        if not one_node and len(numa.node_ids(sysfs)) < 2:
            return ()
        return tuple(numa.read(sysfs))

    readers: dict[str, Callable[[], Any]] = {
        "numa": nodes,
        "hugepages": lambda: tuple(hugepages.read(sysfs)),
        "thp": lambda: hugepages.read_thp(sysfs),
        "ksm": lambda: ksm.read(sysfs),
        "zram": lambda: tuple(zram.read(sysfs)),
        "zswap": lambda: zswap.read(sysfs),
        "zswap_stats": lambda: zswap.read_stats(sysfs),
        "arcstats": lambda: arcstats.read(procfs),
    }
    if not settings and previous is not None:
        for name, kept in (("thp", previous.thp), ("zswap", previous.zswap)):
            readers.pop(name)
            if name in previous.unavailable:
                unavailable.add(name)
            else:
                found[name] = kept
        # What this kernel lacked last time (no zram, no ZFS, debugfs closed to the daemon's user) is looked
        # for again with the settings, not at every sample: finding nothing cost a third of a sample.
        for name in previous.unavailable:
            if readers.pop(name, None) is not None:
                unavailable.add(name)
    started = time.monotonic()
    for name, reader in readers.items():
        try:
            found[name] = reader()
        except SourceUnavailable:
            unavailable.add(name)
        except SourceError as exc:
            errors[name] = exc.reason
        except OSError as exc:  # a directory listing that failed mid-walk
            errors[name] = str(exc)
    return SystemSample(
        monotonic=started,
        nodes=found.get("numa", ()),
        hugepages=found.get("hugepages", ()),
        thp=found.get("thp", {}),
        ksm=found.get("ksm", {}),
        zram=found.get("zram", ()),
        zswap=found.get("zswap", {}),
        zswap_stats=found.get("zswap_stats", {}),
        arc=found.get("arcstats", {}),
        errors=errors,
        unavailable=frozenset(unavailable),
    )
