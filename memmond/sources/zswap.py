"""zswap's settings: /sys/module/zswap/parameters/* (enabled, compressor, zpool, max_pool_percent, ...).

Its sizes are in /proc/meminfo (Zswap: compressed pool, Zswapped: what it holds uncompressed, 5.19+);
its counters live in debugfs, root only, and are not read by the unprivileged daemon.
"""

from __future__ import annotations

import os

from memmond.sources.procfs import ProcFS, SourceUnavailable

SOURCE = "zswap"
PARAMETERS = "module/zswap/parameters"


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
