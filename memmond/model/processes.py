"""The process table of `memmond top`: every process's RSS, PSS, USS and swap, sorted and grouped as smem
and htop's memory columns are, by user, command or systemd unit.

RSS counts shared pages in full for every process that maps them, so a sum of RSS overstates memory in
use; PSS divides each shared page among its users (the sum is what the processes really take) and USS
is what exiting would free. Both come from smaps_rollup, which another user's process does not let an
unprivileged reader open: such a process has PSS and USS unavailable (None), never 0, and sorts last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memmond.sources import cgroup, process
from memmond.sources.procfs import ProcFS, SourceError

SORTS = ("rss", "pss", "uss", "swap")
GROUPINGS = ("user", "comm", "unit")


class _Sizes:
    """What a process row and a group share: their sizes by the names `--sort` uses, and their JSON
    (every field, bytes as they are)."""

    rss_bytes: int
    pss_bytes: int | None
    uss_bytes: int | None
    swap_bytes: int

    def value(self, key: str) -> int | None:
        return {"rss": self.rss_bytes, "pss": self.pss_bytes, "uss": self.uss_bytes, "swap": self.swap_bytes}[key]

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ProcessRow(_Sizes):
    pid: int
    command: str  # the kernel's comm (Name in status, at most 15 characters)
    uid: int | None
    cgroup: str
    unit: str  # the systemd unit of its cgroup, "" for none
    rss_bytes: int
    swap_bytes: int
    pss_bytes: int | None  # None: smaps_rollup not readable (another user's process, unprivileged)
    uss_bytes: int | None


def row_of(procfs: ProcFS, pid: int) -> ProcessRow | None:
    """One process, or None for a kernel thread (no memory of its own) or a process that is gone."""
    try:
        found = process.read(procfs, pid)
    except SourceError:
        return None
    memory = found.status.memory
    if "VmRSS" not in memory:  # kernel threads have no mm
        return None
    try:
        path = process.parse_cgroup(procfs.read_text(f"{pid}/cgroup", "process cgroup"))
    except SourceError:
        path = "/"
    rollup = found.rollup.memory if found.rollup is not None else None
    return ProcessRow(
        pid=pid,
        command=found.status.name,
        uid=found.status.uid,
        cgroup=path,
        unit=cgroup.unit_of(path),
        rss_bytes=memory["VmRSS"],
        swap_bytes=memory.get("VmSwap", 0),
        pss_bytes=rollup.get("Pss") if rollup else None,
        uss_bytes=rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0) if rollup else None,
    )


def read_all(procfs: ProcFS) -> list[ProcessRow]:
    """Every user-space process now (processes that exit while being read are left out)."""
    return [row for pid in process.pids(procfs) if (row := row_of(procfs, pid)) is not None]


def sort_rows(rows: Iterable[ProcessRow], key: str) -> list[ProcessRow]:
    """Largest first by `key`; rows where it is unavailable come last (by RSS), not as zeros."""
    return sorted(rows, key=lambda r: (r.value(key) is not None, r.value(key) or 0, r.rss_bytes), reverse=True)


@dataclass(frozen=True)
class Group(_Sizes):
    """Processes with one user, command or unit: sums of what is known, and how many lack PSS/USS."""

    key: str
    processes: int
    rss_bytes: int
    swap_bytes: int
    pss_bytes: int
    uss_bytes: int
    processes_without_pss: int  # processes whose PSS and USS are unavailable (not in the sums)


def total(rows: Sequence[ProcessRow], key: str = "total") -> Group:
    return Group(
        key=key,
        processes=len(rows),
        rss_bytes=sum(r.rss_bytes for r in rows),
        swap_bytes=sum(r.swap_bytes for r in rows),
        pss_bytes=sum(r.pss_bytes or 0 for r in rows),
        uss_bytes=sum(r.uss_bytes or 0 for r in rows),
        processes_without_pss=sum(1 for r in rows if r.pss_bytes is None),
    )


def group_by(rows: Iterable[ProcessRow], by: str, name_of_uid: dict[int, str] | None = None) -> list[Group]:
    """One Group per user (by name where `name_of_uid` knows it), command, or unit (the cgroup path where
    the cgroup is no unit)."""
    names = name_of_uid or {}
    groups: dict[str, list[ProcessRow]] = {}
    for row in rows:
        if by == "user":
            key = names.get(row.uid, str(row.uid)) if row.uid is not None else "?"
        elif by == "comm":
            key = row.command
        else:
            key = row.unit or row.cgroup  # a container or a plain cgroup: its path tells where
        groups.setdefault(key, []).append(row)
    return [total(members, key) for key, members in groups.items()]


def sort_groups(groups: Iterable[Group], key: str) -> list[Group]:
    return sorted(groups, key=lambda g: (g.value(key) or 0, g.rss_bytes), reverse=True)
