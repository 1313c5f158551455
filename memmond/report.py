"""Human-readable reports of snapshots and processes, as the CLI prints them.

Each report is a pure function of library objects returning text, so the CLI stays wiring and tests can
check the text without running a subprocess.
"""

from __future__ import annotations

import time

from memmond import format as fmt
from memmond.snapshot import DERIVED, Snapshot
from memmond.sources import pressure
from memmond.sources.process import STATUS_MEMORY_FIELDS, ProcessMemory

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


def show(snap: Snapshot) -> str:
    out = [f"memmond show  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(snap.wall_time))}"]

    derived = snap.derived()
    if snap.meminfo is not None:
        total, available = snap.mem_total, snap.mem_available
        rows = []
        if total is not None:
            rows.append(["total", *_bytes_cells(total), "MemTotal"])
        if available is not None:
            note = "MemAvailable"
            if snap.mem_available_estimated:
                note = "estimated: MemFree + Buffers + Cached (kernel has no MemAvailable)"
            ratio = derived.get("memory_available_ratio")
            share = f"{fmt.percent(ratio)} of total" if ratio is not None else ""
            rows.append(["available", *_bytes_cells(available), f"{share}  {note}".strip()])
        for name, label in (
            ("memory_used", "used"),
            ("page_cache", "page cache"),
            ("dirty_writeback", "dirty + writeback"),
            ("reclaimable_file", "reclaimable file"),
        ):
            if name in derived:
                rows.append([label, *_bytes_cells(derived[name]), DERIVED[name].formula])
        out += ["", "Summary", fmt.table(rows, align="lrrl")]

        rows = [
            [name, *_bytes_cells(snap.meminfo[name]), meaning]
            for name, meaning in PAGE_CACHE_FIELDS
            if name in snap.meminfo
        ]
        out += ["", "Page cache breakdown", fmt.table(rows, align="lrrl")]

    out += ["", "Memory pressure (PSI, /proc/pressure/memory)"]
    if snap.pressure is not None:
        rows = []
        for kind in pressure.KINDS:
            line = snap.pressure.line(kind)
            if line is not None:
                rows.append(
                    [
                        kind,
                        *(fmt.percent(line.avg(w), 2) for w in pressure.WINDOWS),
                        f"{line.total_seconds:,.3f} s",
                    ]
                )
        out.append(fmt.table(rows, header=["", "avg10", "avg60", "avg300", "stalled since boot"]))
    else:
        out.append(f"  unavailable: {snap.errors.get(pressure.SOURCE, 'not read')}")

    if snap.meminfo is not None:
        rows = []
        for name, value in snap.meminfo.items():
            if snap.meminfo.is_count(name):
                rows.append([name, f"{fmt.group(value)} pages", ""])
            else:
                rows.append([name, *_bytes_cells(value)])
        out += ["", "All /proc/meminfo fields (kernel order)", fmt.table(rows)]
        if snap.meminfo.skipped:
            out.append(f"  ({len(snap.meminfo.skipped)} malformed lines skipped: {snap.meminfo.skipped[0]})")

    if snap.errors:
        out += ["", "Sources not read"]
        out += [f"  {source}: {reason}" for source, reason in sorted(snap.errors.items())]
    return "\n".join(out)


def process(proc: ProcessMemory) -> str:
    status = proc.status
    out = [
        f"process {status.pid} ({status.name})  state {status.state or '?'}"
        f"  threads {status.threads if status.threads is not None else '?'}"
    ]
    rows = [
        [name, *_bytes_cells(status.memory[name])] for name in STATUS_MEMORY_FIELDS if name in status.memory
    ]
    if proc.rollup is not None:
        for name in ("Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "SwapPss"):
            if name in proc.rollup.memory:
                rows.append([name, *_bytes_cells(proc.rollup.memory[name])])
    out.append(fmt.table(rows))
    if proc.rollup is None:
        out.append(f"  Pss unavailable: {proc.rollup_error}")
    return "\n".join(out)
