"""Human-readable reports of snapshots and processes, as the CLI prints them.

Each report is a pure function of library objects returning text, so the CLI stays wiring and tests can
check the text without running a subprocess.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from memmond import format as fmt
from memmond.model.snapshot import Snapshot
from memmond.sources.cgroup import CgroupMemory
from memmond.sources.process import STATUS_MEMORY_FIELDS, ProcessMemory

if TYPE_CHECKING:  # the CLI's daemon path must not load ctypes and the io-impact layer
    from memmond.model.io_impact import IOImpact

PAGE_SIZE = mmap.PAGESIZE

# Page cache breakdown: field, what it means in one phrase.
PAGE_CACHE_FIELDS = (
    ("Cached", "file data in memory, including Shmem"),
    ("Buffers", "block-device metadata and raw block I/O"),
    ("Shmem", "tmpfs and shared memory, inside Cached; cannot be dropped"),
    ("Active(file)", "file pages used recently; reclaimed last"),
    ("Inactive(file)", "file pages not used recently; reclaimed first"),
    ("Dirty", "modified, waiting to be written back"),
    ("Writeback", "being written to disk right now"),
    ("Mapped", "file pages mapped into processes"),
)


def _bytes_cells(value: float) -> list[str]:
    return [fmt.kb(int(value)), fmt.iec(value)]


# Typical writeback speed used to turn the dirty limit into seconds of I/O: a SATA SSD or a fast disk.
ASSUMED_WRITEBACK_BYTES_PER_SECOND = 200 * 1000 * 1000
DEFAULTS = {"dirty_expire_centisecs": 3000, "vfs_cache_pressure": 100, "watermark_scale_factor": 10}


def tuning_notes(tunables: Mapping[str, int], snap: Snapshot) -> list[tuple[str, str, str]]:
    """(setting, value, note) for every /proc/sys/vm setting read; the note says what the value means for
    this machine when it is unusual, and is empty when it is the ordinary default."""
    rows: list[tuple[str, str, str]] = []
    total = snap.mem_total or 0
    available = snap.mem_available or 0
    swap = snap.mem_field("SwapTotal") or 0

    def add(knob: str, value: str, note: str = "") -> None:
        if knob in tunables:
            rows.append((f"vm.{knob}", value, note))

    t = tunables
    limit = t.get("dirty_bytes") or (t.get("dirty_ratio", 0) / 100 * available)
    background = t.get("dirty_background_bytes") or (t.get("dirty_background_ratio", 0) / 100 * available)
    seconds = limit / ASSUMED_WRITEBACK_BYTES_PER_SECOND
    dirty_note = f"writers are throttled at about {fmt.iec(limit)} dirty"
    if seconds > 30:
        dirty_note += (
            f": {seconds:.0f} s of writeback at 200 MB/s; a slow disk stalls writers long before "
            "that limit, consider vm.dirty_bytes"
        )
    if t.get("dirty_bytes"):
        add("dirty_bytes", fmt.iec(t["dirty_bytes"]), dirty_note)
    else:
        add("dirty_ratio", f"{t.get('dirty_ratio')} %", dirty_note)
    background_note = f"background writeback starts at about {fmt.iec(background)} dirty"
    if background >= limit > 0:
        background_note = "at or above the throttling limit: background writeback never gets ahead of writers"
    if t.get("dirty_background_bytes"):
        add("dirty_background_bytes", fmt.iec(t["dirty_background_bytes"]), background_note)
    else:
        add("dirty_background_ratio", f"{t.get('dirty_background_ratio')} %", background_note)
    if "dirty_expire_centisecs" in t:
        expire = t["dirty_expire_centisecs"] / 100
        note = (
            ""
            if t["dirty_expire_centisecs"] == DEFAULTS["dirty_expire_centisecs"]
            else (f"dirty data waits up to {expire:g} s before writeback (default 30 s)")
        )
        add("dirty_expire_centisecs", str(t["dirty_expire_centisecs"]), note)
    if "swappiness" in t:
        if not swap:
            note = "no swap configured: anonymous memory cannot be reclaimed, only file cache"
        elif t["swappiness"] == 0:
            note = "swap only to avoid OOM: file cache is dropped first, almost always"
        elif t["swappiness"] >= 100:
            note = "anonymous memory is swapped as readily as file cache is dropped, or more"
        else:
            note = ""
        add("swappiness", str(t["swappiness"]), note)
    if "vfs_cache_pressure" in t:
        value = t["vfs_cache_pressure"]
        note = (
            ""
            if value == 100
            else (
                "dentry and inode caches are reclaimed more aggressively than page cache"
                if value > 100
                else "dentry and inode caches are kept in preference to page cache"
            )
        )
        add("vfs_cache_pressure", str(value), note)
    if "min_free_kbytes" in t:
        reserve = t["min_free_kbytes"] * 1024
        note = f"{fmt.iec(reserve)} kept free"
        if total and reserve > 0.05 * total:
            note += f": {fmt.percent(reserve / total)} of memory, unusually large"
        add("min_free_kbytes", str(t["min_free_kbytes"]), note)
    if "watermark_scale_factor" in t:
        value = t["watermark_scale_factor"]
        note = (
            ""
            if value == DEFAULTS["watermark_scale_factor"]
            else (f"kswapd wakes {value / 100:g} % of memory before the low watermark (default 0.1 %)")
        )
        add("watermark_scale_factor", str(value), note)
    if "overcommit_memory" in t:
        mode = t["overcommit_memory"]
        commit_limit = snap.mem_field("CommitLimit")
        note = {
            0: "heuristic overcommit (the default)",
            1: "always overcommit: allocations never fail, the OOM killer decides",
            2: f"strict: allocations fail past CommitLimit ({fmt.iec(commit_limit or 0)})",
        }.get(mode, "unknown mode")
        add("overcommit_memory", str(mode), note)
        if mode == 2:
            add("overcommit_ratio", f"{t.get('overcommit_ratio')} %", "share of RAM in CommitLimit, plus swap")
    return rows


_RATE_LABELS = {
    "refaults": ("refaults", "pages/s"),
    "thrashing": ("thrashing (restores)", "pages/s"),
    "refault_activations": ("refault activations", "pages/s"),
    "activations": ("activations", "pages/s"),
    "major_faults": ("major faults", "/s"),
    "paged_in": ("read from disk", "bytes/s"),
    "paged_out": ("written to disk", "bytes/s"),
    "reclaim_efficiency_kswapd": ("reclaim efficiency, kswapd", "ratio"),
    "reclaim_efficiency_direct": ("reclaim efficiency, direct", "ratio"),
    "scanned_kswapd": ("scanned by kswapd", "pages/s"),
    "scanned_direct": ("scanned directly", "pages/s"),
    "direct_reclaim_stalls": ("direct reclaim stalls", "/s"),
    "thp_fallback": ("THP faults falling back", "ratio"),
    "cache_miss_ratio": ("estimated cache miss fraction", "ratio"),
}


def efficiency_rows(rates: Mapping[str, float | None]) -> list[list[str]]:
    rows = []
    for name, (label, unit) in _RATE_LABELS.items():
        value = rates.get(name)
        if value is None:
            text = "-"
        elif unit == "ratio":
            text = fmt.percent(value)
        elif unit == "bytes/s":
            text = f"{fmt.iec(value)}/s"
        else:
            text = fmt.rate(value, " " + unit if unit != "/s" else "/s")
        rows.append([label, text])
    return rows


def process(proc: ProcessMemory) -> str:
    status = proc.status
    out = [
        f"process {status.pid} ({status.name})  state {status.state or '?'}"
        f"  threads {status.threads if status.threads is not None else '?'}"
    ]
    rows = [[name, *_bytes_cells(status.memory[name])] for name in STATUS_MEMORY_FIELDS if name in status.memory]
    if proc.rollup is not None:
        for name in ("Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "SwapPss"):
            if name in proc.rollup.memory:
                rows.append([name, *_bytes_cells(proc.rollup.memory[name])])
    out.append(fmt.table(rows))
    if proc.rollup is None:
        out.append(f"  Pss unavailable: {proc.rollup_error}")
    return "\n".join(out)


def io_impact(impact: IOImpact, width: int = 80) -> str:
    verb = "Wrote" if impact.operation == "write" else "Read"
    how = " with fsync" if impact.fsync else ""
    out = [
        f"{verb} {fmt.iec(impact.size_bytes)} {'to' if impact.operation == 'write' else 'from'} {impact.path}"
        f"{how} in {impact.seconds:.2f} s",
        "",
    ]
    from memmond.model.io_impact import FIELDS

    rows = [
        [name, fmt.signed_iec(impact.delta(name)), fmt.signed_iec(impact.delta(name, synced=True))] for name in FIELDS
    ]
    out.append(fmt.table(rows, header=["meminfo", "right after", "after sync"]))
    out += ["", "The file in the page cache"]
    rows = []
    for label, result in (
        ("before", impact.file_before),
        ("right after", impact.file_after),
        ("after sync", impact.file_after_sync),
    ):
        if result is None:
            rows.append([label, "-", "(no file)"])
            continue
        dirty = f"{fmt.group(result.dirty_pages)} dirty pages" if result.dirty_pages is not None else ""
        rows.append([label, fmt.iec(result.resident_bytes), f"{fmt.percent(result.resident_ratio)} resident", dirty])
    out.append(fmt.table(rows, align="lrrr"))
    out += ["", "Verdicts"]
    out += [f"  {'yes' if value else 'no ':3}  {name}" for name, value in impact.verdicts().items()]
    out += ["", "What happened"]
    import textwrap

    for line in impact.explanation():  # wrapped to the width, continuation lines under the text
        out += textwrap.wrap(line, max(40, width), initial_indent="  - ", subsequent_indent="    ")
    return "\n".join(out)


CGROUP_SORTS = ("current", "limit", "psi", "oom")


def _cgroup_sort_key(sort: str) -> Callable[[CgroupMemory], float]:
    def limit_share(cg: CgroupMemory) -> float:
        return (cg.current or 0) / cg.limit if cg.limit else -1.0

    def psi(cg: CgroupMemory) -> float:
        return cg.pressure.some.avg10 if cg.pressure is not None and cg.pressure.some is not None else -1.0

    return {
        "current": lambda cg: float(cg.current or 0),
        "limit": limit_share,
        "psi": psi,
        "oom": lambda cg: float(cg.events.get("oom_kill", 0)),
    }[sort]


def cgroups_table(found: Sequence[CgroupMemory], sort: str = "current", width: int = 80) -> str:
    """A systemd-cgtop-like table of memory: the biggest (or nearest their limit, most stalled, most
    OOM-killed) first, each cgroup by its own name (the unit, for units; --json has the paths). The name
    column takes what the terminal width leaves."""
    rows = sorted(found, key=_cgroup_sort_key(sort), reverse=True)
    header = ["cgroup", "memory", "% limit", "anon", "file", "swap", "psi10", "oom"]
    body = []
    for cg in rows:
        share = f"{(cg.current or 0) / cg.limit:.0%}" if cg.limit and cg.current is not None else "-"
        psi10 = fmt.percent(cg.pressure.some.avg10) if cg.pressure is not None and cg.pressure.some else "-"
        body.append(
            [
                cg.name,
                fmt.short_iec(cg.current) if cg.current is not None else "-",
                share,
                fmt.short_iec(cg.anon) if cg.anon is not None else "-",
                fmt.short_iec(cg.file) if cg.file is not None else "-",
                fmt.short_iec(cg.swap) if cg.swap is not None else "-",
                psi10,
                str(cg.events["oom_kill"]) if "oom_kill" in cg.events else "-",
            ]
        )
    numbers = [max(len(row[col]) for row in [header, *body]) for col in range(1, len(header))]
    room = max(12, width - sum(numbers) - 2 * (len(header) - 1))
    for row in body:
        name = row[0].encode("unicode_escape").decode("ascii")  # a newline in a name stays on its row
        row[0] = fmt.cut_middle(name, room)
    return fmt.table(body, header, indent=0)
