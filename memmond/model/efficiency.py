"""Page cache and reclaim efficiency from /proc/vmstat counters, no eBPF: rates between two snapshots.

The counters have changed names across kernels: workingset_* split into _anon/_file in 5.9,
pgsteal/pgscan were per zone (pgsteal_kswapd_normal, ...) before 4.8, allocstall was one counter before
4.10. `counter()` hides that, so every formula below works on 3.10 to 6.x alike.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass

from memmond.model.snapshot import Snapshot
from memmond.sources.vmstat import lookup


def counter(snap: Snapshot, name: str) -> float | None:
    """A vmstat counter under its current name, on any kernel (see sources.vmstat.lookup)."""
    return None if snap.vmstat is None else lookup(snap.vmstat, name)


@dataclass(frozen=True)
class RateSpec:
    name: str
    metric: str
    formula: str
    help: str
    compute: Callable[[Callable[[str], float | None]], float | None]
    labels: tuple[tuple[str, str], ...] = ()


def _per_second(name: str, scale: float = 1.0) -> Callable[[Callable[[str], float | None]], float | None]:
    def compute(rate: Callable[[str], float | None]) -> float | None:
        value = rate(name)
        return None if value is None else value * scale

    return compute


def _ratio(
    numerator: str, denominator: str, scale: float = 1.0
) -> Callable[[Callable[[str], float | None]], float | None]:
    def compute(rate: Callable[[str], float | None]) -> float | None:
        top, bottom = rate(numerator), rate(denominator)
        if top is None or bottom is None or bottom == 0:
            return None  # nothing scanned / read: no ratio, rather than 0 or a division error
        return top / (bottom * scale)

    return compute


PAGE_SIZE = mmap.PAGESIZE
PAGES_PER_KIB = 1024 / PAGE_SIZE

RATES: tuple[RateSpec, ...] = (
    RateSpec(
        "refaults",
        "memmond_page_cache_refaults_per_second",
        "rate(workingset_refault_file)",
        "File pages read back in soon after being evicted: the cache is smaller than the working set.",
        _per_second("workingset_refault_file"),
    ),
    RateSpec(
        "thrashing",
        "memmond_page_cache_thrashing_per_second",
        "rate(workingset_restore_file)",
        "Refaulted pages that were in active use when evicted: the working set itself does not fit.",
        _per_second("workingset_restore_file"),
    ),
    RateSpec(
        "refault_activations",
        "memmond_page_cache_refault_activations_per_second",
        "rate(workingset_activate_file)",
        "Refaulted pages put straight on the active list.",
        _per_second("workingset_activate_file"),
    ),
    RateSpec(
        "activations",
        "memmond_page_activations_per_second",
        "rate(pgactivate)",
        "Pages moved from the inactive to the active list (used again while cached).",
        _per_second("pgactivate"),
    ),
    RateSpec(
        "major_faults",
        "memmond_major_faults_per_second",
        "rate(pgmajfault)",
        "Page faults that had to read from disk.",
        _per_second("pgmajfault"),
    ),
    RateSpec(
        "paged_in",
        "memmond_paged_in_bytes_per_second",
        "rate(pgpgin) * 1024",
        "Data read from block devices (pgpgin counts KiB).",
        _per_second("pgpgin", 1024),
    ),
    RateSpec(
        "paged_out",
        "memmond_paged_out_bytes_per_second",
        "rate(pgpgout) * 1024",
        "Data written to block devices (pgpgout counts KiB).",
        _per_second("pgpgout", 1024),
    ),
    RateSpec(
        "reclaim_efficiency_kswapd",
        "memmond_reclaim_efficiency_ratio",
        "rate(pgsteal_kswapd) / rate(pgscan_kswapd)",
        "Pages reclaimed per page scanned: near 1 is easy reclaim, near 0 is scanning in vain.",
        _ratio("pgsteal_kswapd", "pgscan_kswapd"),
        (("reclaimer", "kswapd"),),
    ),
    RateSpec(
        "reclaim_efficiency_direct",
        "memmond_reclaim_efficiency_ratio",
        "rate(pgsteal_direct) / rate(pgscan_direct)",
        "Pages reclaimed per page scanned: near 1 is easy reclaim, near 0 is scanning in vain.",
        _ratio("pgsteal_direct", "pgscan_direct"),
        (("reclaimer", "direct"),),
    ),
    RateSpec(
        "scanned_kswapd",
        "memmond_reclaim_scanned_pages_per_second",
        "rate(pgscan_kswapd)",
        "Pages scanned for reclaim: by kswapd in the background, or directly by allocating tasks.",
        _per_second("pgscan_kswapd"),
        (("reclaimer", "kswapd"),),
    ),
    RateSpec(
        "scanned_direct",
        "memmond_reclaim_scanned_pages_per_second",
        "rate(pgscan_direct)",
        "Pages scanned for reclaim: by kswapd in the background, or directly by allocating tasks.",
        _per_second("pgscan_direct"),
        (("reclaimer", "direct"),),
    ),
    RateSpec(
        "direct_reclaim_stalls",
        "memmond_direct_reclaim_stalls_per_second",
        "rate(allocstall_*)",
        "Allocations that stalled to reclaim memory themselves (kswapd could not keep up).",
        _per_second("allocstall"),
    ),
    RateSpec(
        "thp_fallback",
        "memmond_thp_fault_fallback_ratio",
        "rate(thp_fault_fallback) / (rate(thp_fault_alloc) + rate(thp_fault_fallback))",
        "Share of huge page faults that fell back to base pages: fragmentation, or a defrag setting that will "
        "not compact, keeps transparent huge pages from being used.",
        lambda rate: _share(rate("thp_fault_fallback"), rate("thp_fault_alloc")),
    ),
    RateSpec(
        "cache_miss_ratio",
        "memmond_page_cache_miss_ratio",
        "rate(workingset_refault_file) / (rate(pgpgin) * 1024 / page size)",
        "Estimated share of pages read from disk that were cached recently and evicted: misses a larger "
        "cache would have avoided.",
        _ratio("workingset_refault_file", "pgpgin", PAGES_PER_KIB),
    ),
)


def _share(part: float | None, rest: float | None) -> float | None:
    """part / (part + rest), None without both or without any event to divide by."""
    if part is None or rest is None or part + rest <= 0:
        return None
    return part / (part + rest)


def _counters_read() -> tuple[str, ...]:
    """Every counter name the formulas ask for (each formula asks for all of its names when all exist)."""
    names: dict[str, None] = {}
    for spec in RATES:
        spec.compute(lambda name: names.setdefault(name) or 1.0)
    return tuple(names)


_COUNTERS = _counters_read()


def rates(before: Snapshot, after: Snapshot) -> dict[str, float | None]:
    """Every rate by name; None where the kernel lacks a counter, a counter went backwards (reboot), or
    nothing happened to divide by. Each counter is read from both tables in one pick (a scrape runs this
    on cold caches); only a name the kernel spells otherwise goes through `lookup`."""
    seconds = after.monotonic - before.monotonic
    same_boot = before.boot_id is None or after.boot_id is None or before.boot_id == after.boot_id
    old, new = before.vmstat, after.vmstat
    per_second: dict[str, float | None] = dict.fromkeys(_COUNTERS)
    if old is not None and new is not None and seconds > 0 and same_boot:
        for name, a, b in zip(_COUNTERS, old.pick(_COUNTERS), new.pick(_COUNTERS), strict=True):
            if a is None or b is None:  # an older kernel's name, or per-zone counters
                a, b = lookup(old, name), lookup(new, name)
            if a is not None and b is not None and b >= a:
                per_second[name] = (b - a) / seconds
    rate = per_second.__getitem__
    return {spec.name: spec.compute(rate) for spec in RATES}


def markdown_table() -> str:
    """The README's formula table, generated so it cannot drift from the code."""
    lines = ["| metric | formula | meaning |", "| --- | --- | --- |"]
    for spec in RATES:
        labels = ", ".join(f'{k}="{v}"' for k, v in spec.labels)
        metric = f"{spec.metric}{{{labels}}}" if labels else spec.metric
        lines.append(f"| `{metric}` | `{spec.formula}` | {spec.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
