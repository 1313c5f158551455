"""Kernel samepage merging: /sys/kernel/mm/ksm/*, one number a file.

pages_sharing is how many pages are saved (mapped pages that point at a shared one); general_profit
(Linux 6.1+) is the saving in bytes net of KSM's own metadata.
"""

from __future__ import annotations

import mmap

from memmond.sources.procfs import ProcFS, SourceError, SourceUnavailable

SOURCE = "ksm"
ROOT = "kernel/mm/ksm"
COUNTERS = ("full_scans", "pages_scanned")  # only grow
GAUGES = (
    "run", "pages_shared", "pages_sharing", "pages_unshared", "pages_volatile", "ksm_zero_pages", "general_profit",
)  # fmt: skip


def _number(sysfs: ProcFS, name: str) -> int | None:
    try:
        return int(sysfs.read_text(f"{ROOT}/{name}", SOURCE).strip())
    except (SourceError, ValueError):
        return None


def read(sysfs: ProcFS) -> dict[str, int]:
    """The files this kernel has; SourceUnavailable without KSM (CONFIG_KSM=n)."""
    if not sysfs.path(ROOT).is_dir():
        raise SourceUnavailable(SOURCE, f"{sysfs.path(ROOT)} does not exist (no KSM in this kernel)")
    values = {}
    names = (*GAUGES, *COUNTERS)
    if _number(sysfs, "run") == 0 and _number(sysfs, "pages_sharing") == 0:
        names = ("run", "pages_sharing")  # off, nothing merged: the rest is zeros (and not exported)
    for name in names:
        try:
            text = sysfs.read_text(f"{ROOT}/{name}", SOURCE).strip()
        except SourceUnavailable:
            continue  # older kernels lack general_profit, ksm_zero_pages, pages_scanned
        try:
            values[name] = int(text)
        except ValueError:
            raise SourceError(SOURCE, f"{sysfs.path(ROOT)}/{name}: expected a number, got {text[:40]!r}") from None
    return values


def saved_bytes(values: dict[str, int]) -> int:
    """What KSM saves: general_profit (net of its metadata, Linux 6.1+), else pages_sharing base pages."""
    return values.get("general_profit", values.get("pages_sharing", 0) * mmap.PAGESIZE)
