"""The cgroups one walk found, cut to what a fleet can pay for: the root, then the largest by memory up to
max_cgroups, and the rest summed into one "other" entry whose count is kept beside it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from memmond.sources.cgroup import CgroupMemory, Selection, Tree, walk

OTHER = "other"


@dataclass(frozen=True)
class CgroupSample:
    cgroups: tuple[CgroupMemory, ...]  # the root first, then by current, largest first; "other" last
    dropped: int  # cgroups found but summed into "other"
    found: int  # cgroups the walk found
    seconds: float  # how long the walk took


def _add(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


def summed(path: str, cgroups: Iterable[CgroupMemory]) -> CgroupMemory:
    """One entry adding up the figures that add up (memory, swap, event counts, process counts); limits,
    peaks and pressure do not, so "other" has none."""
    current = anon = file = shmem = kernel = swap = inactive_file = procs = None
    events: dict[str, int] = {}
    version = 2
    for cgroup in cgroups:
        version = cgroup.version
        current, anon, file = _add(current, cgroup.current), _add(anon, cgroup.anon), _add(file, cgroup.file)
        shmem, kernel, swap = _add(shmem, cgroup.shmem), _add(kernel, cgroup.kernel), _add(swap, cgroup.swap)
        inactive_file, procs = _add(inactive_file, cgroup.inactive_file), _add(procs, cgroup.procs)
        for event, count in cgroup.events.items():
            events[event] = events.get(event, 0) + count
    return CgroupMemory(
        path=path,
        unit="",
        version=version,
        current=current,
        anon=anon,
        file=file,
        shmem=shmem,
        kernel=kernel,
        swap=swap,
        inactive_file=inactive_file,
        events=events,
        procs=procs,
    )


def _inside(path: str, ancestors: set[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:end]) in ancestors for end in range(2, len(parts)))


def select(found: list[CgroupMemory], max_cgroups: int) -> tuple[tuple[CgroupMemory, ...], int]:
    """(what to expose, how many were dropped). The root always stays; the others compete on current
    memory. Dropped subtrees are summed once each: a dropped cgroup inside a dropped one is already in
    its parent's figures."""
    root = [c for c in found if c.path == "/"]
    others = sorted((c for c in found if c.path != "/"), key=lambda c: c.current or 0, reverse=True)
    room = max(0, max_cgroups - len(root))
    kept, dropped = others[:room], others[room:]
    if not dropped:
        return tuple(root + kept), 0
    dropped_paths = {c.path for c in dropped}
    tops = [c for c in dropped if not _inside(c.path, dropped_paths)]
    return tuple([*root, *kept, summed(OTHER, tops)]), len(dropped)


def sample(tree: Tree, selection: Selection, max_cgroups: int) -> CgroupSample:
    started = time.monotonic()
    found = walk(tree, selection)
    cgroups, dropped = select(found, max_cgroups)
    return CgroupSample(cgroups, dropped, len(found), time.monotonic() - started)
