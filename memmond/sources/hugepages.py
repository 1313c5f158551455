"""Huge pages by size (/sys/kernel/mm/hugepages/hugepages-<size>kB/, and per node under
/sys/devices/system/node/node<N>/hugepages/) and the transparent huge page settings
(/sys/kernel/mm/transparent_hugepage/{enabled,defrag,shmem_enabled}).

/proc/meminfo's HugePages_* count the default size only; a host with 2 MiB and 1 GiB pools needs these.
A size directory this code has never seen (a new arch's 32 MiB, 16 GiB) is read like any other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from memmond.sources import numa
from memmond.sources.procfs import ProcFS, SourceError, SourceUnavailable

SOURCE = "hugepages"
POOLS = "kernel/mm/hugepages"
THP = "kernel/mm/transparent_hugepage"
THP_SETTINGS = ("enabled", "defrag", "shmem_enabled")
_SIZE_DIR = re.compile(r"hugepages-(\d+)kB")


@dataclass(frozen=True)
class HugePagePool:
    size_bytes: int
    node: int | None  # None: the machine-wide pool
    total: int  # pages
    free: int
    reserved: int | None  # machine-wide only
    surplus: int

    @property
    def used(self) -> int:
        return self.total - self.free


def size_of(directory: str) -> int | None:
    """'hugepages-2048kB' -> 2097152; None for any other name."""
    found = _SIZE_DIR.fullmatch(directory)
    return int(found.group(1)) * 1024 if found else None


def _count(sysfs: ProcFS, path: str) -> int | None:
    try:
        text = sysfs.read_text(path, SOURCE).strip()
    except SourceUnavailable:
        return None  # per-node pools have no resv_hugepages; a size removed while read
    if not (text.isascii() and text.isdigit()):
        raise SourceError(SOURCE, f"{sysfs.path(path)}: expected a count, got {text[:40]!r}")
    return int(text)


def _pool(sysfs: ProcFS, base: str, size: int, node: int | None) -> HugePagePool | None:
    """One pool; an empty one (no pages, no surplus: the usual case) from two reads instead of four."""
    total, surplus = _count(sysfs, f"{base}/nr_hugepages"), _count(sysfs, f"{base}/surplus_hugepages")
    if total is None:
        return None  # the size was removed while read
    if total == 0 and not surplus:
        return HugePagePool(size, node, 0, 0, 0 if node is None else None, 0)
    free = _count(sysfs, f"{base}/free_hugepages")
    if free is None:
        return None
    reserved = _count(sysfs, f"{base}/resv_hugepages") if node is None else None
    return HugePagePool(size, node, total, free, reserved, surplus or 0)


def _pools_under(sysfs: ProcFS, directory: str, node: int | None) -> list[HugePagePool]:
    try:
        entries = os.listdir(sysfs.path(directory))
    except OSError:
        return []
    pools = []
    for entry in sorted(entries, key=lambda e: size_of(e) or 0):
        size = size_of(entry)
        if size is not None and (pool := _pool(sysfs, f"{directory}/{entry}", size, node)) is not None:
            pools.append(pool)
    return pools


def read(sysfs: ProcFS) -> list[HugePagePool]:
    """Machine-wide pools, then each node's; SourceUnavailable on a kernel without hugetlbfs sysfs."""
    if not sysfs.path(POOLS).is_dir():
        raise SourceUnavailable(SOURCE, f"{sysfs.path(POOLS)} does not exist (no hugetlbfs)")
    pools = _pools_under(sysfs, POOLS, None)
    if any(pool.total or pool.surplus for pool in pools):  # per node only where there is a pool to split
        for node in numa.node_ids(sysfs):
            pools += _pools_under(sysfs, f"{numa.NODES}/node{node}/hugepages", node)
    return pools


def parse_mode(text: str) -> str | None:
    """The selected word of a sysfs choice file: 'always [madvise] never' -> 'madvise'."""
    found = re.search(r"\[([^\]\s]+)\]", text)
    return found.group(1) if found else None


def read_thp(sysfs: ProcFS) -> dict[str, str]:
    """{'enabled': 'madvise', 'defrag': 'madvise', 'shmem_enabled': 'never'}: what this kernel has."""
    modes = {}
    for setting in THP_SETTINGS:
        try:
            mode = parse_mode(sysfs.read_text(f"{THP}/{setting}", "thp"))
        except SourceUnavailable:
            continue
        if mode is not None:
            modes[setting] = mode
    if not modes:
        raise SourceUnavailable("thp", f"{sysfs.path(THP)} has no settings (no THP in this kernel)")
    return modes
