"""The two things the CLI does that change the system: sync, and dropping caches (root only).

The daemon never does either; they are for people at a terminal, measuring.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from memmond.model.snapshot import Sampler, Snapshot
from memmond.sources.procfs import ProcFS

DROP_CACHES_PATH = "sys/vm/drop_caches"
DROP_WHAT = {1: "page cache", 2: "reclaimable slab (dentries and inodes)", 3: "page cache and reclaimable slab"}


class NotPermitted(PermissionError):
    """The user may not do this; the message says what is needed."""


@dataclass(frozen=True)
class Change:
    """A before/after pair of snapshots around an action, and how long the action took."""

    before: Snapshot
    after: Snapshot
    seconds: float

    def delta(self, name: str) -> int:
        return (self.after.mem_field(name) or 0) - (self.before.mem_field(name) or 0)


def sync(sampler: Sampler) -> Change:
    """sync(2): write every dirty page of every filesystem back, and wait."""
    before = sampler.capture()
    started = time.monotonic()
    os.sync()
    seconds = time.monotonic() - started
    return Change(before, sampler.capture(), seconds)


def drop_caches(level: int, procfs: ProcFS, sampler: Sampler) -> Change:
    """Write `level` (1, 2 or 3) to /proc/sys/vm/drop_caches after a sync, as root only.

    Dirty pages cannot be dropped, so the sync comes first; the kernel only drops clean, unused pages."""
    if level not in DROP_WHAT:
        raise ValueError(f"level must be 1, 2 or 3, got {level}")
    if os.geteuid() != 0:
        raise NotPermitted(
            "drop-caches needs root: it writes /proc/sys/vm/drop_caches. Run it as root (sudo memmond "
            "drop-caches ...); memmond itself, the daemon included, never needs root."
        )
    os.sync()
    before = sampler.capture()
    started = time.monotonic()
    try:
        with open(procfs.path(DROP_CACHES_PATH), "w") as handle:
            handle.write(f"{level}\n")
    except PermissionError as exc:
        raise NotPermitted(
            f"cannot write {procfs.path(DROP_CACHES_PATH)}: {exc.strerror} (a container without "
            "CAP_SYS_ADMIN, or /proc/sys mounted read-only)"
        ) from None
    seconds = time.monotonic() - started
    return Change(before, sampler.capture(), seconds)
