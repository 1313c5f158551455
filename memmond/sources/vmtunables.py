"""/proc/sys/vm: the kernel settings the memory rules depend on (dirty thresholds, swappiness, overcommit).

They change only when an administrator changes them, so memmond reads them at start and on reload, not
at every sample.
"""

from __future__ import annotations

from memmond.sources.procfs import ProcFS, SourceError

SOURCE = "vm_tunables"
KNOBS = (
    "dirty_ratio",
    "dirty_background_ratio",
    "dirty_bytes",
    "dirty_background_bytes",
    "dirty_expire_centisecs",
    "dirty_writeback_centisecs",
    "swappiness",
    "vfs_cache_pressure",
    "min_free_kbytes",
    "watermark_scale_factor",
    "overcommit_memory",
    "overcommit_ratio",
    "overcommit_kbytes",
)


def parse(text: str) -> int:
    """One knob's file: a single integer."""
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected an integer, got {value[:40]!r}") from None


def read(procfs: ProcFS) -> tuple[dict[str, int], dict[str, str]]:
    """(values, problems): knobs the kernel does not have (watermark_scale_factor before 4.6) or that
    cannot be read are left out and named in problems; they never stop the others."""
    values: dict[str, int] = {}
    problems: dict[str, str] = {}
    for knob in KNOBS:
        try:
            values[knob] = parse(procfs.read_text(f"sys/vm/{knob}", SOURCE))
        except SourceError as exc:
            problems[knob] = exc.reason
        except ValueError as exc:
            problems[knob] = str(exc)
    return values, problems


# knob -> (metric name after memmond_vm_, factor to base units, what it means). Metrics use base units
# (ratios 0..1, seconds, bytes); rule expressions see the raw kernel values as vm_<knob>.
METRICS: dict[str, tuple[str, float, str]] = {
    "dirty_ratio": (
        "dirty_ratio",
        0.01,
        "vm.dirty_ratio as a ratio: dirty share of dirtyable memory at which writers are throttled "
        "(0 when vm.dirty_bytes is set).",
    ),
    "dirty_background_ratio": (
        "dirty_background_ratio",
        0.01,
        "vm.dirty_background_ratio as a ratio: dirty share at which background writeback "
        "starts (0 when vm.dirty_background_bytes is set).",
    ),
    "dirty_bytes": ("dirty_bytes", 1, "vm.dirty_bytes: dirty amount at which writers are throttled (0: ratio)."),
    "dirty_background_bytes": (
        "dirty_background_bytes",
        1,
        "vm.dirty_background_bytes: dirty amount at which background writeback starts.",
    ),
    "dirty_expire_centisecs": (
        "dirty_expire_seconds",
        0.01,
        "vm.dirty_expire_centisecs in seconds: age at which dirty data is written back.",
    ),
    "dirty_writeback_centisecs": (
        "dirty_writeback_seconds",
        0.01,
        "vm.dirty_writeback_centisecs in seconds: how often the flusher threads wake.",
    ),
    "swappiness": (
        "swappiness",
        1,
        "vm.swappiness: how readily anonymous memory is swapped versus file cache dropped (0-200).",
    ),
    "vfs_cache_pressure": (
        "vfs_cache_pressure",
        1,
        "vm.vfs_cache_pressure: reclaim of dentry and inode caches relative to page cache (100 is neutral).",
    ),
    "min_free_kbytes": ("min_free_bytes", 1024, "vm.min_free_kbytes in bytes: memory the kernel keeps free."),
    "watermark_scale_factor": (
        "watermark_scale_factor",
        1,
        "vm.watermark_scale_factor: distance between the reclaim watermarks, in "
        "ten-thousandths of memory (default 10).",
    ),
    "overcommit_memory": (
        "overcommit_memory",
        1,
        "vm.overcommit_memory: 0 heuristic, 1 always allow, 2 strict (CommitLimit).",
    ),
    "overcommit_ratio": (
        "overcommit_ratio",
        0.01,
        "vm.overcommit_ratio as a ratio: share of RAM in CommitLimit under overcommit_memory=2.",
    ),
    "overcommit_kbytes": (
        "overcommit_bytes",
        1024,
        "vm.overcommit_kbytes in bytes: CommitLimit's RAM part when set instead of the ratio.",
    ),
}
