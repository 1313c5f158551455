"""The cgroups one walk found, cut to what a fleet can pay for: the root, then the largest by memory up to
max_cgroups, and the rest summed into one "other" entry whose count is kept beside it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from memmond.sources.cgroup import CgroupGone, CgroupMemory, Selection, Tree, current_of, relative_paths

OTHER = "other"


@dataclass(frozen=True)
class CgroupSample:
    cgroups: tuple[CgroupMemory, ...]  # the root first, then by current, largest first; "other" last
    dropped: int  # cgroups found but summed into "other"
    found: int  # cgroups the walk found
    seconds: float  # how long the walk took
    monotonic: float = 0.0  # when the walk started (time.monotonic), the time per-cgroup rules use


def _inside(path: str, ancestors: set[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:end]) in ancestors for end in range(2, len(parts)))


def sample(tree: Tree, selection: Selection, max_cgroups: int, everything: bool = True) -> CgroupSample:
    """One walk for the daemon, in two passes so a big tree stays cheap: every selected cgroup's memory
    (one small file each) to rank them, then every file only for the root and the largest up to
    max_cgroups. "other" carries the memory of the dropped subtrees (each counted once). A tree that fits
    (most hosts) is read once, and ranked by what that read found."""
    started = time.monotonic()
    room = max(0, max_cgroups - 1)
    chosen = [relative for relative in relative_paths(tree.memory.root, selection) if relative]
    ranked: list[tuple[int, str]] | None = None  # (current, relative) of every cgroup, when some must go
    if len(chosen) > room:
        ranked = []
        for relative in chosen:
            try:
                current = current_of(tree, relative)
            except CgroupGone:
                continue
            ranked.append((current or 0, relative))
        ranked.sort(reverse=True)
        chosen = [relative for _, relative in ranked[:room]]
    cgroups = []
    for relative in ["", *chosen]:
        try:
            cgroups.append(tree.read(relative, everything))
        except CgroupGone:
            continue
    root = cgroups[:1] if cgroups and cgroups[0].path == "/" else []
    children = cgroups[len(root) :]
    if ranked is None:
        children.sort(key=lambda c: (c.current or 0, c.path), reverse=True)
    dropped = ranked[room:] if ranked is not None else []
    if dropped:
        dropped_paths = {"/" + relative for _, relative in dropped}
        total = sum(current for current, relative in dropped if not _inside("/" + relative, dropped_paths))
        children.append(CgroupMemory(path=OTHER, unit="", version=tree.memory.version, current=total))
    tree.files.sweep()  # files of cgroups this walk did not read are closed
    found = len(ranked) if ranked is not None else len(cgroups) - len(root)
    return CgroupSample((*root, *children), len(dropped), found + 1, time.monotonic() - started, started)
