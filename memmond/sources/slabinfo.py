"""/proc/slabinfo (version 2.1): the kernel's slab caches, one line each. Readable by root only; the
unprivileged totals are meminfo's Slab, SReclaimable and SUnreclaim.

    slabinfo - version: 2.1
    # name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount>
      <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
    kmalloc-256   1234   1300    256   16    1 : tunables    0    0    0 : slabdata     81     81      0
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

from memmond.sources._lines import SkippedLine, no_fields_error
from memmond.sources.procfs import ProcFS, SourceError

SOURCE = "slabinfo"
PATH = "slabinfo"
PAGE_SIZE = mmap.PAGESIZE


@dataclass(frozen=True)
class SlabCache:
    name: str
    active_objects: int
    objects: int
    object_size: int  # bytes
    pages_per_slab: int
    slabs: int

    @property
    def size_bytes(self) -> int:
        """Memory the cache holds, as slabtop's CACHE SIZE: its slabs' pages."""
        return self.slabs * self.pages_per_slab * PAGE_SIZE

    @property
    def active_bytes(self) -> int:
        return self.active_objects * self.object_size

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "active_objects": self.active_objects,
            "objects": self.objects,
            "object_size_bytes": self.object_size,
            "size_bytes": self.size_bytes,
            "active_bytes": self.active_bytes,
        }


def parse(text: str) -> tuple[list[SlabCache], tuple[SkippedLine, ...]]:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("slabinfo - version: 2."):
        raise SourceError(SOURCE, f"expected 'slabinfo - version: 2.x', got {(lines[0] if lines else '')[:60]!r}")
    caches: list[SlabCache] = []
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        try:
            slabdata = parts.index("slabdata")
            numbers = [int(p) for p in parts[1:6]]
            slabs = int(parts[slabdata + 2])
        except (ValueError, IndexError):
            skipped.append(SkippedLine(lineno, line, "expected 'name 5 numbers : tunables ... : slabdata ...'"))
            continue
        active, total, size, _per_slab, pages = numbers
        caches.append(SlabCache(parts[0], active, total, size, pages, slabs))
    if not caches:
        raise no_fields_error(SOURCE, skipped)
    return caches, tuple(skipped)


def read(procfs: ProcFS) -> list[SlabCache]:
    return parse(procfs.read_text(PATH, SOURCE, records=True))[0]
