"""Per-NUMA-node memory: /sys/devices/system/node/node<N>/meminfo, numastat and vmstat.

A node's meminfo repeats /proc/meminfo's layout with a "Node N " prefix on every line (and MemUsed,
FilePages, which the machine-wide file lacks); numastat and vmstat are "name value" lines. Nodes come and
go with memory hotplug: a node whose files vanish mid-read is left out of that sample, not an error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from memmond.sources._lines import SkippedLine, no_fields_error
from memmond.sources.cgroup import parse_flat
from memmond.sources.meminfo import KIB
from memmond.sources.procfs import ProcFS, SourceError, SourceUnavailable

SOURCE = "numa"
NODES = "devices/system/node"
_NODE_DIR = re.compile(r"node(\d+)")
_NODE_LINE = re.compile(r"Node\s+(\d+)\s+([^:\s]+):\s+(\d+)(\s+kB)?\s*$")


@dataclass(frozen=True)
class NodeMemory:
    node: int
    meminfo: dict[str, int]  # kB fields in bytes: MemTotal, MemFree, MemUsed, FilePages, AnonPages, ...
    counts: dict[str, int]  # unit-less fields: HugePages_Total, HugePages_Free, HugePages_Surp
    numastat: dict[str, int] = field(default_factory=dict)  # numa_hit, numa_miss, ... (pages, counters)
    vmstat: dict[str, int] = field(default_factory=dict)
    skipped: tuple[SkippedLine, ...] = ()

    @property
    def available_bytes(self) -> int | None:
        """What the node could give without swapping, estimated as the kernel's MemAvailable is but per
        node (the kernel has no per-node MemAvailable): free + file pages + reclaimable slab. Shmem is in
        FilePages and cannot be dropped, so it is taken out."""
        m = self.meminfo
        if "MemFree" not in m or "FilePages" not in m:
            return None
        return m["MemFree"] + m["FilePages"] - m.get("Shmem", 0) + m.get("SReclaimable", 0)


def parse_node_meminfo(text: str, node: int) -> tuple[dict[str, int], dict[str, int], tuple[SkippedLine, ...]]:
    """(bytes, counts, skipped) of one node's meminfo; a line for another node than `node` is skipped."""
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        found = _NODE_LINE.match(line)
        if found is None:
            skipped.append(SkippedLine(lineno, line, "expected 'Node N Name: value [kB]'"))
            continue
        if int(found.group(1)) != node:
            skipped.append(SkippedLine(lineno, line, f"a line of node {found.group(1)} in node{node}/meminfo"))
            continue
        name, value = found.group(2), int(found.group(3))
        if found.group(4):
            sizes[name] = value * KIB
        else:
            counts[name] = value
    if not sizes and not counts:
        raise no_fields_error(SOURCE, skipped)
    return sizes, counts, tuple(skipped)


def parse_pairs(text: str, source: str = SOURCE) -> tuple[dict[str, int], tuple[SkippedLine, ...]]:
    """'name value' lines (numastat, a node's vmstat): the cgroup files' flat format, but empty is an error."""
    values, skipped = parse_flat(text)
    if not values:
        raise no_fields_error(source, list(skipped))
    return values, skipped


def node_ids(sysfs: ProcFS) -> list[int]:
    """The nodes present now, ascending; none where the kernel has no NUMA sysfs (CONFIG_NUMA=n)."""
    try:
        entries = os.listdir(sysfs.path(NODES))
    except OSError:
        return []
    return sorted(int(m.group(1)) for entry in entries if (m := _NODE_DIR.fullmatch(entry)))


def read(sysfs: ProcFS) -> list[NodeMemory]:
    """Every node's memory. Raises SourceUnavailable without NUMA sysfs; a node that disappears while
    read (hotplug) is left out; a node file that makes no sense raises SourceError for the sample."""
    nodes = node_ids(sysfs)
    if not nodes:
        raise SourceUnavailable(SOURCE, f"{sysfs.path(NODES)} has no node directories")
    found = []
    for node in nodes:
        base = f"{NODES}/node{node}"
        try:
            sizes, counts, skipped = parse_node_meminfo(sysfs.read_text(f"{base}/meminfo", SOURCE), node)
        except SourceUnavailable:
            continue  # gone (memory hotplug) or a node without memory files
        numastat: dict[str, int] = {}
        vmstat: dict[str, int] = {}
        for name, target in (("numastat", numastat), ("vmstat", vmstat)):
            try:
                values, more = parse_pairs(sysfs.read_text(f"{base}/{name}", SOURCE))
            except SourceUnavailable:
                continue
            except SourceError:
                raise
            target.update(values)
            skipped += more
        found.append(NodeMemory(node, sizes, counts, numastat, vmstat, skipped))
    return found
