"""zram devices: /sys/block/zram<N>/{mm_stat,io_stat,bd_stat,disksize,comp_algorithm,initstate}.

Column meanings follow Documentation/admin-guide/blockdev/zram.rst. mm_stat grew columns over time
(huge_pages in 5.?, huge_pages_since in 5.15): whatever a kernel prints is read by position and the
names it lacks stay absent. A device that is not initialised (disksize 0) holds nothing and is left out;
one reset while read raises nothing: it is left out of that sample.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from memmond.sources.procfs import ProcFS, SourceError, SourceUnavailable

SOURCE = "zram"
BLOCK = "block"
_DEVICE = re.compile(r"zram\d+")
MM_STAT = (
    "orig_data_size", "compr_data_size", "mem_used_total", "mem_limit", "mem_used_max", "same_pages",
    "pages_compacted", "huge_pages", "huge_pages_since",
)  # fmt: skip
IO_STAT = ("failed_reads", "failed_writes", "invalid_io", "notify_free")
BD_STAT = ("bd_count", "bd_reads", "bd_writes")  # in 4 KiB units


@dataclass(frozen=True)
class ZramDevice:
    name: str
    disksize_bytes: int
    algorithm: str | None
    mm: dict[str, int]  # MM_STAT names: sizes in bytes, *_pages in pages
    io: dict[str, int] = field(default_factory=dict)
    bd: dict[str, int] = field(default_factory=dict)

    @property
    def compression_ratio(self) -> float | None:
        """Original data per byte of memory zram uses for it (allocator overhead included)."""
        used = self.mm.get("mem_used_total")
        original = self.mm.get("orig_data_size")
        return original / used if used and original is not None else None


def parse_columns(text: str, names: tuple[str, ...], what: str) -> dict[str, int]:
    """Numbers by position: as many names as the kernel printed columns (extra columns are ignored)."""
    parts = text.split()
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        raise SourceError(SOURCE, f"{what}: expected numbers, got {text.strip()[:60]!r}")
    return {name: int(value) for name, value in zip(names, parts, strict=False)}


def parse_algorithm(text: str) -> str | None:
    """'[lzo-rle] lzo lz4' -> 'lzo-rle'; a kernel that prints only the one in use: that word."""
    found = re.search(r"\[([^\]\s]+)\]", text)
    if found:
        return found.group(1)
    words = text.split()
    return words[0] if len(words) == 1 else None


def _device(sysfs: ProcFS, name: str) -> ZramDevice | None:
    base = f"{BLOCK}/{name}"
    try:
        disksize = int(sysfs.read_text(f"{base}/disksize", SOURCE).strip() or 0)
        if disksize == 0:
            return None  # not initialised: no memory, nothing stored
        mm = parse_columns(sysfs.read_text(f"{base}/mm_stat", SOURCE), MM_STAT, f"{name}/mm_stat")
    except SourceUnavailable:
        return None  # removed (hot-remove) or reset meanwhile
    except ValueError:
        raise SourceError(SOURCE, f"{name}/disksize is not a number") from None
    extra: dict[str, dict[str, int]] = {}
    for file_name, names in (("io_stat", IO_STAT), ("bd_stat", BD_STAT)):
        try:
            text = sysfs.read_text(f"{base}/{file_name}", SOURCE)
            extra[file_name] = parse_columns(text, names, f"{name}/{file_name}")
        except SourceUnavailable:
            extra[file_name] = {}  # bd_stat exists only with CONFIG_ZRAM_WRITEBACK
    try:
        algorithm = parse_algorithm(sysfs.read_text(f"{base}/comp_algorithm", SOURCE))
    except SourceUnavailable:
        algorithm = None
    return ZramDevice(name, disksize, algorithm, mm, extra["io_stat"], extra["bd_stat"])


def read(sysfs: ProcFS) -> list[ZramDevice]:
    """The initialised zram devices; SourceUnavailable where there are none."""
    try:
        names = sorted((e for e in os.listdir(sysfs.path(BLOCK)) if _DEVICE.fullmatch(e)), key=lambda n: int(n[4:]))
    except OSError:
        names = []
    devices = [device for name in names if (device := _device(sysfs, name)) is not None]
    if not devices:
        raise SourceUnavailable(SOURCE, "no initialised zram device")
    return devices
