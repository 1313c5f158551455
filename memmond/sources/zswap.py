"""zswap's settings: /sys/module/zswap/parameters/* (enabled, compressor, zpool, max_pool_percent, ...).

Its sizes are in /proc/meminfo (Zswap: compressed pool, Zswapped: what it holds uncompressed, 5.19+);
its counters live in debugfs (/sys/kernel/debug/zswap/: written back pages, rejects by reason, pool limit
hits), readable by root with debugfs mounted: read where they are, skipped elsewhere (the unprivileged
daemon under its unit never sees them; `memmond show` as root does).
"""

from __future__ import annotations

import os

from memmond.sources.procfs import ProcFS, SourceError, SourceUnavailable

SOURCE = "zswap"
PARAMETERS = "module/zswap/parameters"
DEBUGFS = "kernel/debug/zswap"


def read(sysfs: ProcFS) -> dict[str, str]:
    """Every parameter as the kernel prints it ('Y'/'N' for booleans); SourceUnavailable without zswap."""
    try:
        names = sorted(os.listdir(sysfs.path(PARAMETERS)))
    except OSError:
        raise SourceUnavailable(SOURCE, f"{sysfs.path(PARAMETERS)} does not exist (no zswap)") from None
    values = {}
    for name in names:
        try:
            values[name] = sysfs.read_text(f"{PARAMETERS}/{name}", SOURCE).strip()
        except SourceUnavailable:
            continue
    return values


def enabled(parameters: dict[str, str]) -> bool:
    return parameters.get("enabled", "N").upper() in ("Y", "1")


def read_stats(sysfs: ProcFS) -> dict[str, int]:
    """debugfs counters by file name (pool_total_size, stored_pages, written_back_pages, reject_*, ...);
    SourceUnavailable where debugfs is not mounted or not readable (not root)."""
    try:
        names = sorted(os.listdir(sysfs.path(DEBUGFS)))
    except OSError as exc:
        raise SourceUnavailable(
            SOURCE, f"{sysfs.path(DEBUGFS)}: {exc.strerror or exc} (needs root and debugfs)"
        ) from None
    values = {}
    for name in names:
        try:
            text = sysfs.read_text(f"{DEBUGFS}/{name}", SOURCE).strip()
        except SourceError:
            continue  # a file only root may read among readable ones, or gone
        if text.isascii() and text.isdigit():
            values[name] = int(text)
    if not values:
        raise SourceUnavailable(SOURCE, f"{sysfs.path(DEBUGFS)} has no counters")
    return values
