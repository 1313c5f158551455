"""`memmond show`: the full report, grouped so the eye finds a section by its heading, and 80 columns
wide (wider when the terminal is): memory as free shows it, the page cache, stalls, cache efficiency,
tuning, every /proc/meminfo field in the kernel's kB (comparable with `cat /proc/meminfo` by eye), the
largest cgroups."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from rich.console import Group as Lines
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from memmond import format as fmt
from memmond.cli import report, term
from memmond.cli.short import free_table
from memmond.model.snapshot import DERIVED, Snapshot
from memmond.model.system import SystemSample
from memmond.rules.levels import level_of
from memmond.sources import ksm, pressure
from memmond.sources import zswap as zswap_source
from memmond.sources.cgroup import CgroupMemory

# /proc/meminfo in groups people look for; a field not listed (a new kernel's) lands in "other".
MEMINFO_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("totals", ("MemTotal", "MemFree", "MemAvailable")),
    ("page cache", (
        "Buffers", "Cached", "Active(file)", "Inactive(file)", "Dirty", "Writeback", "Mapped", "Shmem",
        "WritebackTmp", "NFS_Unstable", "Bounce",
    )),
    ("anonymous", ("AnonPages", "Active(anon)", "Inactive(anon)", "AnonHugePages", "Active", "Inactive")),
    ("locked", ("Unevictable", "Mlocked")),
    ("swap", ("SwapTotal", "SwapFree", "SwapCached", "Zswap", "Zswapped")),
    ("kernel", (
        "Slab", "SReclaimable", "SUnreclaim", "KReclaimable", "KernelStack", "PageTables", "SecPageTables",
        "Percpu", "VmallocTotal", "VmallocUsed", "VmallocChunk",
    )),
    ("huge pages", (
        "HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize", "Hugetlb",
        "ShmemHugePages", "ShmemPmdMapped", "FileHugePages", "FilePmdMapped",
    )),
    ("commit", ("CommitLimit", "Committed_AS")),
)  # fmt: skip


def heading(text: str, detail: str = "") -> Text:
    line = Text("\n" + text, style=term.STYLES["heading"])
    if detail:
        line.append(f"  {detail}", style=term.STYLES["dim"])
    return line


def _notes(rows: Sequence[Sequence[str]]) -> Table:
    """Rows of short cells and a last column of words that wraps in what is left of the width."""
    grid = Table.grid(padding=(0, 2))
    columns = len(rows[0]) if rows else 1
    for index in range(columns - 1):
        grid.add_column(no_wrap=True, justify="left" if index == 0 else "right")
    grid.add_column(overflow="fold")
    for row in rows:
        grid.add_row(*row)
    return grid


def _meminfo(snap: Snapshot) -> RenderableType:
    """Every field in its group, flowing down two columns (a group never starts at the foot of the left
    one): the kernel's kB with separators (pages for the counts), as `cat /proc/meminfo` has them."""
    assert snap.meminfo is not None
    listed = {name for _, names in MEMINFO_GROUPS for name in names}
    flow: list[tuple[str | Text, str]] = []
    for title, names in (*MEMINFO_GROUPS, ("other", tuple(n for n in snap.meminfo if n not in listed))):
        present = [name for name in names if name in snap.meminfo]
        if not present:
            continue
        flow.append((Text(title, style="underline"), ""))
        for name in present:
            value = snap.meminfo[name]
            flow.append((name, f"{fmt.group(value)} pages" if snap.meminfo.is_count(name) else fmt.kb(value)))
    half = (len(flow) + 1) // 2
    while half < len(flow) and isinstance(flow[half - 1][0], Text):  # keep a heading with its fields
        half += 1
    layout = Table.grid(padding=(0, 2))
    for justify in ("left", "right", "left", "left", "right"):  # the middle column is a gap
        layout.add_column(no_wrap=True, justify=justify)
    left, right = flow[:half], flow[half:]
    for index, (name, value) in enumerate(left):
        other = right[index] if index < len(right) else ("", "")
        layout.add_row(name, value, "", *other)
    return layout


def _subsystems(sample: SystemSample, snap: Snapshot, width: int) -> list[RenderableType]:
    """NUMA balance, huge page pools, THP, KSM, zram and zswap savings, the ARC: whichever this host has."""
    parts: list[RenderableType] = [heading("Beyond /proc/meminfo", "whatever this kernel has")]
    if len(sample.nodes) > 1:
        rows = [
            [
                f"node{n.node}",
                fmt.short_iec(n.meminfo.get("MemTotal", 0)),
                fmt.short_iec(n.meminfo.get("MemFree", 0)),
                fmt.short_iec(n.available_bytes or 0),
                fmt.short_iec(n.meminfo.get("FilePages", 0)),
                fmt.short_iec(n.meminfo.get("AnonPages", 0)),
                fmt.group(n.numastat.get("numa_miss", 0)),
            ]
            for n in sample.nodes
        ]
        columns = ["NUMA", "TOTAL", "FREE", "AVAILABLE", "FILE", "ANON", "MISSES"]
        parts.append(term.table(columns, rows, width=width))
    elif sample.nodes:
        parts.append(Text("NUMA: one node (node0 is the whole machine)"))
    pools = [p for p in sample.hugepages if p.node is None]
    configured = [p for p in pools if p.total or p.surplus]
    if configured:
        rows = [
            [
                fmt.short_iec(p.size_bytes),
                str(p.total),
                str(p.free),
                str(p.reserved or 0),
                fmt.short_iec(p.total * p.size_bytes),
            ]
            for p in configured
        ]
        parts.append(term.table(["HUGE PAGES", "TOTAL", "FREE", "RESERVED", "POOL"], rows, width=width))
    elif pools:
        sizes = ", ".join(fmt.short_iec(p.size_bytes) for p in pools)
        parts.append(Text(f"huge pages: no pool configured (sizes {sizes})"))
    facts = []
    if sample.thp:
        facts.append("THP " + ", ".join(f"{k} {v}" for k, v in sample.thp.items()))
    if sample.ksm:
        if sample.ksm.get("run") == 1:
            saved = ksm.saved_bytes(sample.ksm)
            facts.append(f"KSM running, saves {fmt.iec(saved)} ({fmt.group(sample.ksm.get('pages_sharing', 0))} pages)")
        else:
            facts.append("KSM off")
    if sample.zswap:
        zswap = f"zswap {'on' if zswap_source.enabled(sample.zswap) else 'off'}"
        pool, held = snap.mem_field("Zswap"), snap.mem_field("Zswapped")
        if pool and held:
            zswap += f", {fmt.iec(held)} held in {fmt.iec(pool)} ({held / pool:.1f}x)"
        zswap += f" ({sample.zswap.get('compressor', '?')})"
        stats = sample.zswap_stats
        if stats:
            rejected = sum(v for k, v in stats.items() if k.startswith("reject_"))
            written = fmt.group(stats.get("written_back_pages", 0))
            zswap += f"; written back {written} pages, rejected {fmt.group(rejected)}"
        elif "zswap_stats" in sample.unavailable:
            zswap += "; its counters are in debugfs (root, debugfs mounted)"
        facts.append(zswap)
    for device in sample.zram:
        ratio = device.compression_ratio
        facts.append(
            f"{device.name}: {fmt.iec(device.mm.get('orig_data_size', 0))} stored in "
            f"{fmt.iec(device.mm.get('mem_used_total', 0))}" + (f" ({ratio:.1f}x, {device.algorithm})" if ratio else "")
        )
    if sample.arc:
        arc = sample.arc
        facts.append(
            f"ZFS ARC {fmt.iec(arc.get('size', 0))} (min {fmt.iec(arc.get('c_min', 0))}, max "
            f"{fmt.iec(arc.get('c_max', 0))}): {fmt.iec(sample.arc_shrinkable_bytes or 0)} of it counts as available"
        )
    parts += [Text(fact) for fact in facts]
    if sample.errors:
        parts += [
            Text(f"not read: {source}: {reason}", style="yellow") for source, reason in sorted(sample.errors.items())
        ]
    return parts


def view(
    snap: Snapshot,
    tunables: Mapping[str, int] | None,
    rates: tuple[float, Mapping[str, float | None]] | None,
    cgroups: Sequence[CgroupMemory],
    width: int,
    subsystems: SystemSample | None = None,
) -> RenderableType:
    parts: list[RenderableType] = []
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snap.wall_time))
    title = Text(f"memmond show · {when}", style=term.STYLES["heading"])
    if snap.meminfo is not None:
        level, reason = level_of(snap)
        title.append(" · pressure ")
        title.append(level, style=term.STYLES.get(level, ""))
        parts += [title, Text(f"({reason}; default thresholds, one sample)", style=term.STYLES["dim"]), Text("")]
        parts.append(free_table(snap))
        derived = snap.derived()
        rows = [
            [label, fmt.iec(derived[name]), DERIVED[name].formula]
            for name, label in (
                ("page_cache", "page cache"),
                ("dirty_writeback", "dirty + writeback"),
                ("reclaimable_file", "reclaimable file"),
            )
            if name in derived
        ]
        if snap.arc_shrinkable:
            rows.append(
                [
                    "available",
                    fmt.iec(derived["memory_available"]),
                    f"MemAvailable {fmt.iec(snap.mem_available or 0)} + ZFS ARC above c_min "
                    f"{fmt.iec(snap.arc_shrinkable)}: the ARC gives this back under pressure, the kernel counts "
                    "it as used; levels and the low-memory rules use this figure",
                ]
            )
        if snap.mem_available_estimated:
            rows.append(
                ["available", "estimated", "estimated: MemFree + Buffers + Cached (kernel has no MemAvailable)"]
            )
        parts += [Text(""), _notes(rows)]
        rows = [
            [name, fmt.iec(snap.meminfo[name]), meaning]
            for name, meaning in report.PAGE_CACHE_FIELDS
            if name in snap.meminfo
        ]
        parts += [heading("Page cache"), _notes(rows)]
    else:
        parts.append(title)

    parts.append(heading("Stalls", "PSI, /proc/pressure/memory: share of time tasks waited for memory"))
    if snap.pressure is not None:
        psi = []
        for kind in pressure.KINDS:
            line = snap.pressure.line(kind)
            if line is not None:
                psi.append(
                    [kind, *(fmt.percent(line.avg(w), 2) for w in pressure.WINDOWS), f"{line.total_seconds:,.1f} s"]
                )
        parts.append(term.table(["", "avg10", "avg60", "avg300", "since boot"], psi, width=width))
    else:
        parts.append(Text(f"unavailable: {snap.errors.get(pressure.SOURCE, 'not read')}"))

    if rates is not None:
        seconds, values = rates
        parts.append(
            heading("Page cache efficiency", f"/proc/vmstat over {fmt.duration(seconds)}; - nothing to measure")
        )
        rows = report.efficiency_rows(values)
        half = (len(rows) + 1) // 2
        paired = [[*left, *(right or ["", ""])] for left, right in zip(rows[:half], [*rows[half:], None], strict=False)]
        grid = Table.grid(padding=(0, 2))
        for justify in ("left", "right", "left", "right"):
            grid.add_column(no_wrap=True, justify=justify)
        for row in paired:
            grid.add_row(*row)
        parts.append(grid)

    if tunables:
        parts += [heading("Tuning", "/proc/sys/vm"), _notes(report.tuning_notes(tunables, snap))]

    if subsystems is not None:
        parts += _subsystems(subsystems, snap, width)

    if snap.meminfo is not None:
        parts += [heading("/proc/meminfo", "every field, kernel's kB"), _meminfo(snap)]
        if snap.meminfo.skipped:
            parts.append(Text(f"({len(snap.meminfo.skipped)} malformed lines skipped: {snap.meminfo.skipped[0]})"))

    if cgroups:
        parts.append(heading("Cgroups", "the largest; `memmond cgroups` lists them all"))
        parts.append(Text(report.cgroups_table(cgroups, "current", width)))

    if snap.errors:
        parts.append(heading("Sources not read"))
        parts += [Text(f"{source}: {reason}") for source, reason in sorted(snap.errors.items())]
    return Lines(*parts)
