"""/proc/sys/vm: the kernel settings the memory rules depend on (dirty thresholds, swappiness, overcommit).

They change only when an administrator changes them, so memmond reads them at start and on reload, not
at every sample.
"""

from __future__ import annotations

from memmond.procfs import ProcFS, SourceError

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
