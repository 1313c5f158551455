"""Prometheus exposition: the metric catalogue, metric families built from the published state, and
rendering to bytes at most once per sample and format.

The sampling thread publishes an immutable `Published` state; scrapes call `Published.render`, which
builds and encodes the families on the first scrape after a sample and hands every later scrape of that
sample the cached bytes. At 10 Hz sampling with 15 s scrapes that renders 1 sample in 150, instead of
encoding 150 times for nobody. No scrape ever reads /proc.
"""

from __future__ import annotations

import bisect
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from memmond import __version__
from memmond.config import LEVELS
from memmond.model import efficiency
from memmond.model.cgroups import CgroupSample
from memmond.model.history import EXTREMES, History
from memmond.model.snapshot import DERIVED, SOURCES, Snapshot
from memmond.model.system import SystemSample
from memmond.model.trend import LevelChange
from memmond.model.watch import FileSample, ProcessSample
from memmond.serve.events import EventStore
from memmond.serve.textformat import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Encoder,
    Family,
    Labels,
)
from memmond.serve.textformat import counter as _new_counter
from memmond.serve.textformat import gauge as _new_gauge
from memmond.serve.textformat import histogram as _new_histogram
from memmond.sources import cgroup as cgroup_source
from memmond.sources import ksm, pressure, vmtunables
from memmond.sources._table import FieldTable
from memmond.sources.meminfo import snake_name
from memmond.sources.vmstat import is_counter

PREFIX = "memmond_"
# Buckets where they tell an operator something: jitter around the 2 ms target; sample time from the
# usual ~0.1 ms to the 50 ms where a 10 Hz sampler runs out of room. Every bucket is a series on every host.
JITTER_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.02)
SAMPLE_DURATION_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.05)

# /proc/vmstat counters exported by default (`exposition: {vmstat: all}` exports every field): node_exporter's
# default set (oom_kill, pgpg*, pswp*, pg*fault), plus what memmond's rules, dashboards and efficiency rates
# read: reclaim scans and steals, direct-reclaim stalls, refaults, activations, THP faults and compaction.
# Patterns take the per-zone and pre-5.9 spellings of older kernels too. The rule engine reads every field.
VMSTAT_DEFAULT = re.compile(
    r"^(oom_kill|pgpg(in|out)|pswp(in|out)|pg(maj)?fault|pgactivate"
    r"|pg(scan|steal)_(kswapd|direct)(_\w+)?|allocstall(_\w+)?"
    r"|workingset_(refault|activate|restore)(_anon|_file)?"
    r"|thp_(fault_alloc|fault_fallback|collapse_alloc|collapse_alloc_failed|split_page)"
    r"|compact_(stall|fail|success))$"
)


# Tokens promtool reads as abbreviated units (checked against promtool 2.x); kernel field names contain
# some of them with other meanings ("sec" is KVM's secondary page tables).
_UNIT_LIKE_TOKENS = frozenset({"b", "d", "gb", "h", "kb", "m", "mb", "ms", "ns", "pb", "s", "sec", "tb", "us"})
_SPELLED_OUT = {"sec": "secondary"}


def metric_safe(name: str) -> str:
    """A kernel-derived snake_case name that `promtool check metrics` accepts: unit-like tokens are spelled
    out where the kernel's meaning is known, else joined to the previous token."""
    tokens = name.split("_")
    if not _UNIT_LIKE_TOKENS.intersection(tokens):
        return name
    out: list[str] = []
    for token in tokens:
        if token in _SPELLED_OUT:
            out.append(_SPELLED_OUT[token])
        elif token in _UNIT_LIKE_TOKENS and out:
            out[-1] += token
        else:
            out.append(token)
    return "_".join(out)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str  # gauge, counter, histogram
    help: str
    labels: tuple[str, ...] = ()


# derived value -> (metric, unit): the catalogue's names and the families' alike
_DERIVED_METRICS = {
    name: (f"{PREFIX}{name}_bytes", "bytes") if spec.unit == "bytes" else (f"{PREFIX}{name}", "")
    for name, spec in DERIVED.items()
}


def _spec_list() -> list[MetricSpec]:
    specs = [
        MetricSpec(
            "memmond_meminfo_<field>_bytes",
            "gauge",
            "Every /proc/meminfo field in bytes, named in snake_case (MemTotal -> mem_total, "
            "Active(file) -> active_file). Fields the kernel does not print are absent.",
        ),
        MetricSpec(
            "memmond_meminfo_<field>_pages",
            "gauge",
            "The unit-less /proc/meminfo fields (HugePages_Total, HugePages_Free, ...), as page counts.",
        ),
        MetricSpec(
            "memmond_vmstat_<field>_total",
            "counter",
            "/proc/vmstat event counters (pgfault, pgmajfault, workingset_refault_file, oom_kill, ...): by "
            "default the reclaim, refault, swap, OOM, THP and compaction fields; every one with "
            "`exposition: {vmstat: all}`.",
        ),
        MetricSpec(
            "memmond_vmstat_<field>",
            "gauge",
            "/proc/vmstat current amounts (nr_* fields, in pages; workingset_nodes), with "
            "`exposition: {vmstat: all}` (meminfo has the same amounts in bytes).",
        ),
        MetricSpec(
            "memmond_pressure_stall_seconds_total",
            "counter",
            "Time tasks stalled on memory (PSI total). some: at least one task; full: all non-idle tasks at once.",
            ("kind",),
        ),
        MetricSpec(
            "memmond_pressure_stall_ratio",
            "gauge",
            "Share of wall time stalled on memory, averaged by the kernel over 10s, 60s or 300s.",
            ("kind", "window"),
        ),
    ]
    for name, spec in DERIVED.items():
        specs.append(MetricSpec(_DERIVED_METRICS[name][0], "gauge", spec.help))  # each help names its formula
    specs.append(
        MetricSpec(
            "memmond_memory_available_estimated",
            "gauge",
            "1 when the kernel has no MemAvailable (before 3.14) and memmond estimates it "
            "as MemFree + Buffers + Cached.",
        )
    )
    for name, (_, what) in EXTREMES.items():
        specs.append(
            MetricSpec(
                f"{PREFIX}{name}",
                "gauge",
                f"{what} over the last extremes_window (see memmond_extremes_window_seconds).",
            )
        )
    specs += [
        MetricSpec("memmond_extremes_window_seconds", "gauge", "Window of the *_min_bytes and *_max_bytes metrics."),
        MetricSpec(
            "memmond_build_info",
            "gauge",
            "Always 1; the labels say which memmond and Python run.",
            ("version", "python"),
        ),
        MetricSpec("memmond_samples_total", "counter", "Samples taken since start."),
        MetricSpec(
            "memmond_samples_skipped_total",
            "counter",
            "Sampling ticks skipped because a sample took longer than the interval.",
        ),
        MetricSpec("memmond_sample_duration_seconds", "histogram", "Time to read and parse one sample."),
        MetricSpec("memmond_sample_interval_seconds", "gauge", "Configured sampling interval."),
        MetricSpec(
            "memmond_sample_jitter_seconds",
            "histogram",
            "How far each sample started from its schedule (|actual - configured interval| between consecutive "
            "samples): scheduling delays, scrape load, a slow /proc.",
        ),
        MetricSpec("memmond_last_sample_timestamp_seconds", "gauge", "Unix time of the latest sample."),
        MetricSpec(
            "memmond_source_up",
            "gauge",
            "1 when the source was read and parsed at the latest sample, 0 when not (see the log, "
            "and memmond_source_unavailable).",
            ("source",),
        ),
        MetricSpec(
            "memmond_source_unavailable",
            "gauge",
            "1 when the kernel does not offer the source at all (no PSI before 4.20 or with psi=0): "
            "a state, not an error.",
            ("source",),
        ),
        MetricSpec(
            "memmond_source_errors_total",
            "counter",
            "Samples at which an offered source could not be read or parsed.",
            ("source",),
        ),
        MetricSpec(
            "memmond_source_lines_skipped_total",
            "counter",
            "Malformed lines the parser skipped (a changed kernel format shows here).",
            ("source",),
        ),
        MetricSpec(
            "memmond_pressure_level",
            "gauge",
            "1 for the current memory pressure level (low, medium, high, critical), 0 for the others.",
            ("level",),
        ),
        MetricSpec(
            "memmond_pressure_level_changes_total", "counter", "Changes of the pressure level, by new level.", ("to",)
        ),
        MetricSpec(
            "memmond_rule_active",
            "gauge",
            "1 while the rule fires; for a rule evaluated for each cgroup, the number of cgroups it fires for. "
            "Carries the rule's own labels from the config too.",
            ("rule", "severity"),
        ),
        MetricSpec(
            "memmond_cgroup_rule_active",
            "gauge",
            "1 for each cgroup a for_each: cgroup rule fires for; present only while it fires (as ALERTS).",
            ("rule", "severity", "cgroup", "unit"),
        ),
        MetricSpec(
            "memmond_rule_events_total",
            "counter",
            "Times the rule started firing since memmond started (for each cgroup: summed over cgroups).",
            ("rule", "severity"),
        ),
        MetricSpec(
            "memmond_rules_loaded",
            "gauge",
            "Rules evaluated at every sample, by origin (builtin or config).",
            ("origin",),
        ),
        MetricSpec(
            "memmond_config_last_reload_successful",
            "gauge",
            "1 when the last config (re)load succeeded, 0 when the last reload was rejected.",
        ),
        MetricSpec(
            "memmond_config_last_reload_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful config load.",
        ),
    ]
    specs += [
        MetricSpec("memmond_watch_interval_seconds", "gauge", "How often watched files and processes are sampled."),
        MetricSpec(
            "memmond_file_watch_up", "gauge", "1 when the watched path could be measured at the last try.", ("path",)
        ),
        MetricSpec("memmond_file_size_bytes", "gauge", "Size of the watched file (directories: summed).", ("path",)),
        MetricSpec("memmond_file_cache_resident_bytes", "gauge", "Page cache the watched path occupies.", ("path",)),
        MetricSpec(
            "memmond_file_cache_dirty_bytes",
            "gauge",
            "Dirty page cache of the watched path (kernels with cachestat, 6.5+).",
            ("path",),
        ),
        MetricSpec(
            "memmond_file_cache_writeback_bytes",
            "gauge",
            "Page cache of the watched path under writeback (cachestat).",
            ("path",),
        ),
        MetricSpec(
            "memmond_file_cache_evicted_bytes",
            "gauge",
            "Evicted pages of the watched path the kernel still remembers (cachestat).",
            ("path",),
        ),
        MetricSpec(
            "memmond_file_cache_recently_evicted_bytes",
            "gauge",
            "Pages of the watched path evicted recently enough to count as refaults if read again (cachestat).",
            ("path",),
        ),
        MetricSpec(
            "memmond_process_watch_up", "gauge", "1 when at least one process matched at the last try.", ("name",)
        ),
        MetricSpec("memmond_process_count", "gauge", "Processes matching the watched name.", ("name",)),
        MetricSpec("memmond_process_rss_bytes", "gauge", "VmRSS summed over the matching processes.", ("name",)),
        MetricSpec("memmond_process_anon_bytes", "gauge", "RssAnon summed over the matching processes.", ("name",)),
        MetricSpec("memmond_process_file_bytes", "gauge", "RssFile summed over the matching processes.", ("name",)),
        MetricSpec("memmond_process_shmem_bytes", "gauge", "RssShmem summed over the matching processes.", ("name",)),
        MetricSpec("memmond_process_swap_bytes", "gauge", "VmSwap summed over the matching processes.", ("name",)),
        MetricSpec(
            "memmond_process_pss_bytes",
            "gauge",
            "Pss summed over the matching processes, when memmond may read their smaps_rollup.",
            ("name",),
        ),
        MetricSpec(
            "memmond_process_peak_rss_bytes",
            "gauge",
            "The largest VmHWM (peak RSS) among the matching processes.",
            ("name",),
        ),
    ]
    cgroup_labels = ("cgroup", "unit")
    specs += [
        MetricSpec(
            "memmond_cgroup_memory_bytes",
            "gauge",
            "Memory charged to the cgroup (memory.current; v1: memory.usage_in_bytes). The root on cgroup v2 has none.",
            cgroup_labels,
        ),
        MetricSpec(
            "memmond_cgroup_memory_limit_bytes",
            "gauge",
            "The cgroup's limits by kind: max (MemoryMax=, "
            "v1 limit_in_bytes), high, low, min, soft (v1). Absent when there is no limit.",
            (*cgroup_labels, "kind"),
        ),
        MetricSpec(
            "memmond_cgroup_memory_working_set_bytes",
            "gauge",
            "current - inactive_file, at least 0: what cAdvisor calls the working set.",
            cgroup_labels,
        ),
        MetricSpec(
            "memmond_cgroup_memory_anon_bytes", "gauge", "Anonymous memory (memory.stat anon; v1 rss).", cgroup_labels
        ),
        MetricSpec(
            "memmond_cgroup_memory_file_bytes",
            "gauge",
            "Page cache, tmpfs and shared memory included (memory.stat file; v1 cache).",
            cgroup_labels,
        ),
        MetricSpec(
            "memmond_cgroup_swap_bytes", "gauge", "Swap used (memory.swap.current; v1 memsw - usage).", cgroup_labels
        ),
        MetricSpec(
            "memmond_cgroup_memory_events_total",
            "counter",
            "memory.events: oom_kill, max (hit the limit; v1 failcnt), high (throttled); every event with "
            "cgroups.detail: full.",
            (*cgroup_labels, "event"),
        ),
        MetricSpec(
            "memmond_cgroup_pressure_stalled_seconds_total",
            "counter",
            "Time the cgroup's tasks stalled on memory (its memory.pressure; hybrid hosts: the cgroup2 tree).",
            (*cgroup_labels, "kind"),
        ),
        MetricSpec(
            "memmond_cgroup_memory_stat_bytes",
            "gauge",
            "Every byte field of memory.stat (cgroups.detail: full).",
            (*cgroup_labels, "item"),
        ),
        MetricSpec(
            "memmond_cgroup_memory_stat_events_total",
            "counter",
            "Every event counter of memory.stat: pgfault, workingset_refault_file, ... (cgroups.detail: full).",
            (*cgroup_labels, "item"),
        ),
        MetricSpec(
            "memmond_cgroups_dropped",
            "gauge",
            'Cgroups found but past cgroups.max_cgroups: summed into cgroup="other".',
        ),
        MetricSpec("memmond_cgroup_walk_duration_seconds", "gauge", "How long the last cgroup walk took."),
        MetricSpec(
            "memmond_oom_kills_total",
            "counter",
            "OOM kills in the kernel log since memmond started, by the "
            "victim's cgroup: counted even when the cgroup is gone before the next walk.",
            cgroup_labels,
        ),
        MetricSpec(
            "memmond_oom_victims_readable",
            "gauge",
            "1 when memmond reads the kernel's messages (/dev/kmsg, or the journal), so OOM victims are known; "
            "0 with neither readable (no CAP_SYSLOG where kernel.dmesg_restrict=1, not in systemd-journal).",
        ),
        MetricSpec(
            "memmond_psi_trigger_events_total",
            "counter",
            "Times a PSI trigger fired (tasks stalled on memory past its threshold within its window), by stall "
            "kind and cgroup ('/' for the whole machine).",
            ("kind", "cgroup"),
        ),
        MetricSpec(
            "memmond_events_total",
            "counter",
            "Memory events recorded (flight-recorder records), by what opened them: psi, oom_kill, rule, "
            "pressure_critical. Triggers while an event is open join it.",
            ("trigger",),
        ),
        MetricSpec(
            "memmond_event_records_persisted",
            "gauge",
            "1 when event records are written to the state directory, 0 when they are kept in memory only.",
        ),
        MetricSpec(
            "memmond_psi_triggers",
            "gauge",
            "Configured PSI triggers by how they are watched: kernel (armed, wake memmond at once) or polling "
            "(the kernel refused them: checked at each sample or cgroup walk).",
            ("mode",),
        ),
    ]
    specs += _system_specs()
    specs.append(
        MetricSpec(
            "memmond_rates_window_seconds",
            "gauge",
            "Window of the *_per_second and *_ratio efficiency metrics (extremes_window).",
        )
    )
    for spec in efficiency.RATES:
        if spec.metric not in {s.name for s in specs}:
            labels = tuple(k for k, _ in spec.labels)
            specs.append(
                MetricSpec(spec.metric, "gauge", f"{spec.help} ({spec.formula}, over the rates window)", labels)
            )
    for knob, (metric, _, what) in vmtunables.METRICS.items():
        unit_note = "" if knob == metric else f" (/proc/sys/vm/{knob})"
        specs.append(MetricSpec(f"{PREFIX}vm_{metric}", "gauge", what + unit_note))
    return specs


def _system_specs() -> list[MetricSpec]:
    """The memory subsystems beyond /proc/meminfo (model/system.py), each only where the kernel has it."""
    node = ("node",)
    return [
        MetricSpec(
            "memmond_numa_node_memory_bytes",
            "gauge",
            "A NUMA node's memory from node<N>/meminfo, by field (mem_total, mem_free, mem_used, file_pages, "
            "anon_pages, shmem, s_reclaimable, s_unreclaim, dirty, writeback, kernel_stack, page_tables). Only "
            "on hosts with two or more nodes: with one, node0 is the machine.",
            ("field", "node"),
        ),
        MetricSpec(
            "memmond_numa_node_available_bytes",
            "gauge",
            "What a NUMA node could give without swapping: MemFree + FilePages - Shmem + SReclaimable (the kernel "
            "has no per-node MemAvailable). One node low while others are free means allocations spill over.",
            node,
        ),
        MetricSpec(
            "memmond_numa_pages_total",
            "counter",
            "Pages allocated on a NUMA node by outcome (numastat): hit (on the intended node), miss (here, "
            "intended elsewhere), foreign (intended here, placed elsewhere), interleave_hit, local, other.",
            ("kind", "node"),
        ),
        MetricSpec(
            "memmond_hugepages_pages",
            "gauge",
            "Huge pages of one size (bytes) by state: total (the pool), free, reserved (promised, not yet "
            "faulted), surplus (overcommitted). Only sizes with a pool configured.",
            ("size", "state"),
        ),
        MetricSpec(
            "memmond_numa_node_hugepages_pages",
            "gauge",
            "A NUMA node's huge pages of one size by state (total, free, surplus); on hosts with two or more "
            "nodes and a pool configured.",
            ("node", "size", "state"),
        ),
        MetricSpec(
            "memmond_thp_mode_info",
            "gauge",
            "Transparent huge page settings: the selected mode of enabled, defrag and shmem_enabled.",
            ("mode", "setting"),
        ),
        MetricSpec("memmond_ksm_running", "gauge", "1 when kernel samepage merging runs (/sys/kernel/mm/ksm/run)."),
        MetricSpec(
            "memmond_ksm_pages",
            "gauge",
            "KSM pages by state while it runs: shared (kept once), sharing (mappings saved by pointing at a "
            "shared page), unshared (scanned, unique), volatile (changing too fast to merge).",
            ("state",),
        ),
        MetricSpec(
            "memmond_ksm_saved_bytes",
            "gauge",
            "Memory KSM saves while it runs: general_profit (net of its metadata, Linux 6.1+), else pages_sharing "
            "x page size.",
        ),
        MetricSpec("memmond_ksm_full_scans_total", "counter", "Full scans of the mergeable areas KSM completed."),
        MetricSpec(
            "memmond_zram_info",
            "gauge",
            "An initialised zram device and its compression algorithm.",
            (
                "algorithm",
                "device",
            ),
        ),
        MetricSpec(
            "memmond_zram_disk_size_bytes", "gauge", "A zram device's size as a block device (disksize).", ("device",)
        ),
        MetricSpec(
            "memmond_zram_original_bytes",
            "gauge",
            "Data stored in a zram device, uncompressed (mm_stat orig_data_size).",
            ("device",),
        ),
        MetricSpec(
            "memmond_zram_compressed_bytes", "gauge", "That data compressed (mm_stat compr_data_size).", ("device",)
        ),
        MetricSpec(
            "memmond_zram_memory_used_bytes",
            "gauge",
            "Memory the device takes, allocator overhead included (mm_stat mem_used_total).",
            ("device",),
        ),
        MetricSpec(
            "memmond_zram_compression_ratio",
            "gauge",
            "Original data per byte of memory used: the saving zram gives (original / memory used).",
            ("device",),
        ),
        MetricSpec(
            "memmond_zram_same_pages",
            "gauge",
            "Pages filled with one repeated value, stored without memory (mm_stat same_pages).",
            ("device",),
        ),
        MetricSpec(
            "memmond_zram_huge_pages", "gauge", "Incompressible pages stored whole (mm_stat huge_pages).", ("device",)
        ),
        MetricSpec(
            "memmond_zram_failed_writes_total", "counter", "Writes to a zram device that failed (io_stat).", ("device",)
        ),
        MetricSpec(
            "memmond_zswap_info",
            "gauge",
            "zswap's settings (/sys/module/zswap/parameters): enabled (Y/N), compressor, zpool.",
            ("compressor", "enabled", "zpool"),
        ),
        MetricSpec("memmond_zswap_max_pool_ratio", "gauge", "zswap's max_pool_percent as a share of memory."),
        MetricSpec(
            "memmond_zswap_written_back_pages_total",
            "counter",
            "Pages zswap wrote back to the swap device to make room (debugfs; root with debugfs mounted).",
        ),
        MetricSpec(
            "memmond_zswap_pool_limit_hits_total",
            "counter",
            "Times zswap's pool reached max_pool_percent (debugfs; root with debugfs mounted).",
        ),
        MetricSpec(
            "memmond_zswap_rejects_total",
            "counter",
            "Pages zswap refused, by reason (compress_poor, compress_fail, alloc_fail, reclaim_fail, ...; "
            "debugfs, root with debugfs mounted).",
            ("reason",),
        ),
        MetricSpec(
            "memmond_zswap_compression_ratio",
            "gauge",
            "What zswap holds uncompressed per byte of its pool (meminfo Zswapped / Zswap), while it holds any.",
        ),
        MetricSpec("memmond_zfs_arc_size_bytes", "gauge", "The ZFS ARC's size (arcstats size).", ()),
        MetricSpec("memmond_zfs_arc_target_size_bytes", "gauge", "The size the ARC aims for (arcstats c)."),
        MetricSpec("memmond_zfs_arc_min_size_bytes", "gauge", "The floor the ARC never shrinks below (c_min)."),
        MetricSpec("memmond_zfs_arc_max_size_bytes", "gauge", "The ARC's ceiling (c_max)."),
        MetricSpec("memmond_zfs_arc_mru_size_bytes", "gauge", "The ARC's recently used list (mru_size)."),
        MetricSpec("memmond_zfs_arc_mfu_size_bytes", "gauge", "The ARC's frequently used list (mfu_size)."),
        MetricSpec(
            "memmond_zfs_arc_shrinkable_bytes",
            "gauge",
            "What the ARC gives back under memory pressure: size above c_min. MemAvailable does not count it.",
        ),
        MetricSpec("memmond_zfs_arc_hits_total", "counter", "ARC lookups answered from memory."),
        MetricSpec("memmond_zfs_arc_misses_total", "counter", "ARC lookups that went to disk."),
        MetricSpec(
            "memmond_zfs_arc_memory_throttles_total",
            "counter",
            "Times the ARC throttled writers because memory was short (memory_throttle_count).",
        ),
        MetricSpec(
            "memmond_system_interval_seconds",
            "gauge",
            "How often the memory subsystems beyond /proc/meminfo are read (system.interval).",
        ),
    ]


CATALOGUE: dict[str, MetricSpec] = {spec.name: spec for spec in _spec_list()}


def catalogue_markdown() -> str:
    """The README's metric reference, generated so it cannot drift from the code."""
    lines = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for spec in CATALOGUE.values():
        labels = ", ".join(spec.labels) or "-"
        lines.append(f"| `{spec.name}` | {spec.type} | {labels} | {spec.help} |")
    return "\n".join(lines)


def _count_into(bounds: tuple[float, ...], counts: list[int], value: float) -> None:
    """One observation into per-bucket (not cumulative) counts; the last count is the +Inf bucket. The
    first bound at or above the value, found in C (twice a sample: duration and jitter)."""
    counts[bisect.bisect_left(bounds, value)] += 1


# -- self statistics, owned by the sampling thread and copied into each Published --------------------------


@dataclass
class SelfStats:
    samples_total: int = 0
    samples_skipped_total: int = 0
    duration_bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(SAMPLE_DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0
    source_errors_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    lines_skipped_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    config_reload_ok: bool = True
    config_reload_success_time: float = 0.0
    level_changes_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    jitter_bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(JITTER_BUCKETS) + 1))
    jitter_sum: float = 0.0

    def observe_jitter(self, seconds: float) -> None:
        self.jitter_sum += seconds
        _count_into(JITTER_BUCKETS, self.jitter_bucket_counts, seconds)

    def observe(self, snap: Snapshot) -> None:
        self.samples_total += 1
        self.duration_sum += snap.capture_seconds
        _count_into(SAMPLE_DURATION_BUCKETS, self.duration_bucket_counts, snap.capture_seconds)
        for source in snap.errors:  # none on a healthy host: no further work
            if source not in snap.unavailable:
                self.source_errors_total[source] += 1
        for source, parsed in zip(SOURCES, (snap.meminfo, snap.vmstat, snap.pressure), strict=True):
            if parsed is not None and parsed.skipped:
                self.lines_skipped_total[source] += len(parsed.skipped)

    def copy(self) -> SelfStats:
        return SelfStats(
            self.samples_total,
            self.samples_skipped_total,
            list(self.duration_bucket_counts),
            self.duration_sum,
            dict(self.source_errors_total),
            dict(self.lines_skipped_total),
            self.config_reload_ok,
            self.config_reload_success_time,
            dict(self.level_changes_total),
            list(self.jitter_bucket_counts),
            self.jitter_sum,
        )


# -- families -------------------------------------------------------------------------------------------


def _gauge(name: str, value: float | None = None, unit: str = "") -> Family:
    return _new_gauge(name, CATALOGUE[name].help, value, unit)


def _counter(name: str, value: float | None = None) -> Family:
    return _new_counter(name, CATALOGUE[name].help, value)


def _histogram(name: str, bounds: tuple[float, ...], counts: list[int], total: float) -> Family:
    return _new_histogram(name, CATALOGUE[name].help, bounds, counts, total, unit="seconds")


# One-value families by name with the value they were made for: one whose value stands still from scrape
# to scrape (most of them on a quiet host) is handed on as the same object, whose text the encoder kept.
_KEPT: dict[str, tuple[object, Family]] = {}


def _kept(name: str, value: object, make: Callable[..., Family], *args: Any) -> Family:
    """The family `make(*args)` made for `value` last time, or a new one when the value changed."""
    last = _KEPT.get(name)
    if last is not None and last[0] == value:
        return last[1]
    family = make(*args)
    _KEPT[name] = (value, family)
    return family


def _kept_gauge(name: str, value: float, unit: str = "") -> Family:
    return _kept(name, value, _gauge, name, value, unit)


def _kept_counter(name: str, value: float) -> Family:
    return _kept(name, value, _counter, name, value)


def _meminfo_name(field_name: str, is_count: bool) -> tuple[str, str, str]:
    """(metric, help, unit) of a meminfo field."""
    base = f"{PREFIX}meminfo_{metric_safe(snake_name(field_name))}"
    if is_count:
        return f"{base}_pages", f"/proc/meminfo {field_name} (pages).", ""
    return f"{base}_bytes", f"/proc/meminfo {field_name} in bytes.", "bytes"


def _vmstat_name(field_name: str) -> tuple[str, str, bool, bool]:
    """(metric, help, is_counter, exported by default) of a vmstat field."""
    counts = is_counter(field_name)
    return (
        f"{PREFIX}vmstat_{metric_safe(field_name)}",
        f"/proc/vmstat {field_name}.",
        counts,
        counts and VMSTAT_DEFAULT.match(field_name) is not None,
    )


class _FieldFamilies:
    """The families of one meminfo or vmstat field list, by position in the table. A field's family is made
    again only when its value changed (most of ~90 stand still between two scrapes of a quiet host), so
    the encoder finds the same samples and copies its text. Names, help and the export choice are worked
    out once per field list; a scrape is one loop over positions (it runs on caches gone cold since the
    last scrape, and a generator, a name lookup and a cache lookup per field were a tenth of it)."""

    __slots__ = ("families", "names", "specs", "values")

    def __init__(self, names: tuple[str, ...], specs: list[tuple[int, str, str, bool, str]]) -> None:
        self.names = names  # the table's own tuple: the same object while the layout stands
        self.specs = specs  # (position in the table, metric, help, counter, unit), in export order
        self.values: list[int | None] = [None] * len(specs)
        self.families: list[Family | None] = [None] * len(specs)

    def build(self, numbers: Sequence[int]) -> list[Family]:
        values, families = self.values, self.families
        for at, (position, metric, help_text, counter, unit) in enumerate(self.specs):
            value = numbers[position]
            if value != values[at]:
                values[at] = value
                families[at] = (
                    _new_counter(metric, help_text, value) if counter else _new_gauge(metric, help_text, value, unit)
                )
        return families  # type: ignore[return-value]  # every position is set by the first build


_FIELD_FAMILIES: dict[tuple[str, bool], _FieldFamilies] = {}  # (source, every field) -> its families


def _field_families(source: str, table: FieldTable, every_field: bool = False) -> list[Family]:
    kept = _FIELD_FAMILIES.get((source, every_field))
    if kept is None or kept.names is not table.names:
        names = table.names
        if source == "meminfo":
            counts = table.count_fields
            specs = [
                (at, metric, help_text, False, unit)
                for at, name in enumerate(names)
                for metric, help_text, unit in (_meminfo_name(name, name in counts),)
            ]
        else:
            specs = [
                (at, metric, help_text, counts, "")
                for at, name in enumerate(names)
                for metric, help_text, counts, default in (_vmstat_name(name),)
                if default or every_field
            ]
        kept = _FIELD_FAMILIES[(source, every_field)] = _FieldFamilies(names, specs)
    return kept.build(table.numbers)


def _pressure_families(snap: Snapshot) -> Iterator[Family]:  # reads snap.pressure only (_PRESSURE_MEMO)
    if snap.pressure is None:
        return
    totals = _counter("memmond_pressure_stall_seconds_total")
    ratios = _gauge("memmond_pressure_stall_ratio")
    for kind in pressure.KINDS:
        line = snap.pressure.line(kind)
        if line is None:
            continue
        totals.add(line.total_seconds, (("kind", kind),), "_total")
        for window in pressure.WINDOWS:
            ratios.add(line.avg(window), (("kind", kind), ("window", f"{window}s")))
    yield totals
    yield ratios


_BUILD_LABELS: Labels = (("python", ".".join(map(str, sys.version_info[:3]))), ("version", __version__))


def _build_info() -> Family:
    return _gauge("memmond_build_info").add(1, _BUILD_LABELS)


def _self_families(pub: Published) -> Iterator[Family]:
    stats, snap = pub.stats, pub.snapshot
    yield _kept("memmond_build_info", _BUILD_LABELS, _build_info)
    yield _counter("memmond_samples_total", stats.samples_total)
    yield _kept_counter("memmond_samples_skipped_total", stats.samples_skipped_total)
    yield _histogram(
        "memmond_sample_duration_seconds", SAMPLE_DURATION_BUCKETS, stats.duration_bucket_counts, stats.duration_sum
    )
    yield _kept_gauge("memmond_sample_interval_seconds", pub.interval_seconds, unit="seconds")
    yield _histogram("memmond_sample_jitter_seconds", JITTER_BUCKETS, stats.jitter_bucket_counts, stats.jitter_sum)
    yield _gauge("memmond_last_sample_timestamp_seconds", snap.wall_time, unit="seconds")
    failing = pub.system.errors if pub.system is not None else {}
    source_inputs = (
        snap.errors,
        snap.unavailable,
        stats.source_errors_total,
        stats.lines_skipped_total,
        failing,
        pub.system_errors_total,
    )
    yield from _SOURCES_MEMO.get(source_inputs, lambda: _source_families(pub, failing))
    yield _kept_gauge("memmond_config_last_reload_successful", 1 if stats.config_reload_ok else 0)
    yield _kept_gauge(
        "memmond_config_last_reload_success_timestamp_seconds", stats.config_reload_success_time, unit="seconds"
    )


def _source_families(pub: Published, failing: Mapping[str, str]) -> Iterator[Family]:
    stats, snap = pub.stats, pub.snapshot
    up = _gauge("memmond_source_up")
    unavailable = _gauge("memmond_source_unavailable")
    errors = _counter("memmond_source_errors_total")
    skipped = _counter("memmond_source_lines_skipped_total")
    for source in SOURCES:
        labels = (("source", source),)
        up.add(0 if source in snap.errors else 1, labels)
        unavailable.add(1 if source in snap.unavailable else 0, labels)
        errors.add(stats.source_errors_total[source], labels, "_total")
        skipped.add(stats.lines_skipped_total[source], labels, "_total")
    # The subsystems beyond meminfo show up here only while failing, or once they have failed: a healthy
    # host pays no series for them (and one without them none at all).
    for source in sorted(set(failing) | set(pub.system_errors_total)):
        labels = (("source", source),)
        if source in failing:
            up.add(0, labels)
            unavailable.add(0, labels)
        errors.add(pub.system_errors_total.get(source, 0), labels, "_total")
    yield from (up, unavailable, errors, skipped)


def _rule_families(pub: Published) -> Iterator[Family]:  # what it reads: build_families' rule_inputs
    active = _gauge("memmond_rule_active")
    cgroup_active = _gauge("memmond_cgroup_rule_active")
    events = _counter("memmond_rule_events_total")
    loaded = _gauge("memmond_rules_loaded")
    for rule in pub.rules:
        own = {"rule": rule.name, "severity": rule.severity, **dict(rule.labels)}
        labels = tuple(sorted(own.items()))
        if rule.per_cgroup:
            active.add(float(len(rule.firing)), labels)
            for cgroup, unit in rule.firing:
                cgroup_active.add(1.0, tuple(sorted({**own, "cgroup": cgroup, "unit": unit}.items())))
        else:
            active.add(1.0 if rule.state == "firing" else 0.0, labels)
        events.add(rule.events_total, (("rule", rule.name), ("severity", rule.severity)), "_total")
    for origin in ("builtin", "config"):
        loaded.add(sum(1 for rule in pub.rules if rule.origin == origin), (("origin", origin),))
    yield from (active, cgroup_active, events, loaded)

    level = _gauge("memmond_pressure_level")
    changes = _counter("memmond_pressure_level_changes_total")
    for name in LEVELS:
        level.add(1.0 if name == pub.pressure_level else 0.0, (("level", name),))
        changes.add(pub.stats.level_changes_total[name], (("to", name),), "_total")
    yield from (level, changes)

    for knob, value in pub.tunables.items():
        metric, factor, _ = vmtunables.METRICS[knob]
        unit = "bytes" if metric.endswith("_bytes") else "seconds" if metric.endswith("_seconds") else ""
        yield _gauge(f"{PREFIX}vm_{metric}", value * factor, unit=unit)


_FILE_METRICS = (
    ("memmond_file_size_bytes", "size_bytes"),
    ("memmond_file_cache_resident_bytes", "resident_bytes"),
    ("memmond_file_cache_dirty_bytes", "dirty_bytes"),
    ("memmond_file_cache_writeback_bytes", "writeback_bytes"),
    ("memmond_file_cache_evicted_bytes", "evicted_bytes"),
    ("memmond_file_cache_recently_evicted_bytes", "recently_evicted_bytes"),
)
_PROCESS_METRICS = (
    ("memmond_process_rss_bytes", "rss_bytes"),
    ("memmond_process_anon_bytes", "anon_bytes"),
    ("memmond_process_file_bytes", "file_bytes"),
    ("memmond_process_shmem_bytes", "shmem_bytes"),
    ("memmond_process_swap_bytes", "swap_bytes"),
    ("memmond_process_pss_bytes", "pss_bytes"),
    ("memmond_process_peak_rss_bytes", "hwm_max_bytes"),
)


def _watch_families(pub: Published) -> Iterator[Family]:
    if not pub.files and not pub.processes:
        return
    yield _gauge("memmond_watch_interval_seconds", pub.watch_interval_seconds, unit="seconds")
    up = _gauge("memmond_file_watch_up")
    for sample in pub.files:
        up.add(0.0 if sample.error else 1.0, (("path", sample.path),))
    yield up
    yield from _labelled_families(pub.files, _FILE_METRICS, "path", lambda sample: sample.path)
    up = _gauge("memmond_process_watch_up")
    count = _gauge("memmond_process_count")
    for proc in pub.processes:
        up.add(0.0 if proc.error else 1.0, (("name", proc.name),))
        count.add(len(proc.pids), (("name", proc.name),))
    yield from (up, count)
    yield from _labelled_families(pub.processes, _PROCESS_METRICS, "name", lambda proc: proc.name)


def _labelled_families(
    items: Iterable[FileSample | ProcessSample],
    metrics: tuple[tuple[str, str], ...],
    label: str,
    label_of: Callable[[Any], str],
) -> Iterator[Family]:
    """One byte gauge per (metric, attribute), a sample per watched item that was measured and has it."""
    items = list(items)
    for metric, attribute in metrics:
        family = _gauge(metric, unit="bytes")
        for item in items:
            value = getattr(item, attribute)
            if item.error is None and value is not None:
                family.add(value, ((label, label_of(item)),))
        yield family


def _rate_families(pub: Published) -> Iterator[Family]:
    if pub.rate_base is None or pub.rate_base is pub.snapshot:
        return
    yield _gauge("memmond_rates_window_seconds", pub.snapshot.monotonic - pub.rate_base.monotonic, unit="seconds")
    values = efficiency.rates(pub.rate_base, pub.snapshot)
    for metric, specs in _RATE_METRICS.items():
        samples = tuple((spec.labels, value) for spec in specs if (value := values[spec.name]) is not None)
        if samples:
            yield _kept(metric, samples, _rate_family, metric, samples)


def _rate_family(metric: str, samples: tuple[tuple[Labels, float], ...]) -> Family:
    family = _gauge(metric)
    for labels, value in samples:
        family.add(value, labels)
    return family


def _rate_metrics() -> dict[str, list[efficiency.RateSpec]]:
    """metric -> its rates, in RATES' order."""
    metrics: dict[str, list[efficiency.RateSpec]] = {}
    for spec in efficiency.RATES:
        metrics.setdefault(spec.metric, []).append(spec)
    return metrics


_RATE_METRICS = _rate_metrics()


_BASIC_EVENTS = ("oom_kill", "max", "high")


EVENT_TRIGGERS = ("psi", "oom_kill", "rule", "pressure_critical")


def _event_families(pub: Published) -> Iterator[Family]:
    if pub.event_store is None:
        return
    opened = _counter("memmond_events_total")
    for trigger in EVENT_TRIGGERS:
        opened.add(pub.events_total.get(trigger, 0), (("trigger", trigger),), "_total")
    yield opened
    yield _gauge("memmond_event_records_persisted", 1 if pub.event_store.persisted else 0)


def _psi_trigger_families(pub: Published) -> Iterator[Family]:
    if not pub.psi_trigger_modes:
        return
    modes = _gauge("memmond_psi_triggers")
    for mode in ("kernel", "polling"):
        modes.add(pub.psi_trigger_modes.get(mode, 0), (("mode", mode),))
    yield modes
    fired = _counter("memmond_psi_trigger_events_total")
    for (kind, cgroup), count in sorted(pub.psi_trigger_events.items()):
        fired.add(count, (("cgroup", cgroup), ("kind", kind)), "_total")
    yield fired


NODE_FIELDS = (
    "MemTotal", "MemFree", "MemUsed", "FilePages", "AnonPages", "Shmem", "SReclaimable", "SUnreclaim", "Dirty",
    "Writeback", "KernelStack", "PageTables",
)  # fmt: skip
NUMASTAT_KINDS = {
    "numa_hit": "hit", "numa_miss": "miss", "numa_foreign": "foreign", "interleave_hit": "interleave_hit",
    "local_node": "local", "other_node": "other",
}  # fmt: skip
KSM_STATES = ("shared", "sharing", "unshared", "volatile")


def _system_families(pub: Published) -> Iterator[Family]:
    """Each subsystem only where the kernel has it, and only what differs from what /proc/meminfo already
    says: per-node figures with two nodes or more, pools that exist, KSM's counts while it runs."""
    sample = pub.system
    if sample is None:
        return
    yield _gauge("memmond_system_interval_seconds", pub.system_interval_seconds, unit="seconds")
    if len(sample.nodes) >= 2:
        memory = _gauge("memmond_numa_node_memory_bytes", unit="bytes")
        available = _gauge("memmond_numa_node_available_bytes", unit="bytes")
        pages = _counter("memmond_numa_pages_total")
        for node in sample.nodes:
            label = str(node.node)
            for name in NODE_FIELDS:
                if name in node.meminfo:
                    memory.add(node.meminfo[name], (("field", snake_name(name)), ("node", label)))
            if node.available_bytes is not None:
                available.add(node.available_bytes, (("node", label),))
            for stat, kind in NUMASTAT_KINDS.items():
                if stat in node.numastat:
                    pages.add(node.numastat[stat], (("kind", kind), ("node", label)), "_total")
        yield from (memory, available, pages)
    configured = {p.size_bytes for p in sample.hugepages if p.node is None and (p.total or p.surplus)}
    if configured:
        pools = _gauge("memmond_hugepages_pages")
        per_node = _gauge("memmond_numa_node_hugepages_pages")
        for pool in sample.hugepages:
            if pool.size_bytes not in configured:
                continue
            states = {"total": pool.total, "free": pool.free, "reserved": pool.reserved, "surplus": pool.surplus}
            for state, value in states.items():
                if value is None:
                    continue
                if pool.node is None:
                    pools.add(value, (("size", str(pool.size_bytes)), ("state", state)))
                elif len(sample.nodes) >= 2:
                    per_node.add(value, (("node", str(pool.node)), ("size", str(pool.size_bytes)), ("state", state)))
        yield pools
        if per_node.samples:
            yield per_node
    if sample.thp:
        thp = _gauge("memmond_thp_mode_info")
        for setting, mode in sorted(sample.thp.items()):
            thp.add(1, (("mode", mode), ("setting", setting)))
        yield thp
    if sample.ksm:
        running = sample.ksm.get("run", 0) == 1
        yield _gauge("memmond_ksm_running", 1 if running else 0)
        if running or sample.ksm.get("pages_sharing", 0):
            states = _gauge("memmond_ksm_pages")
            for state in KSM_STATES:
                if f"pages_{state}" in sample.ksm:
                    states.add(sample.ksm[f"pages_{state}"], (("state", state),))
            yield states
            yield _gauge("memmond_ksm_saved_bytes", ksm.saved_bytes(sample.ksm), unit="bytes")
            yield _counter("memmond_ksm_full_scans_total", sample.ksm.get("full_scans", 0))
    yield from _zram_families(sample)
    if sample.zswap:
        params = sample.zswap
        labels = (
            ("compressor", params.get("compressor", "")),
            ("enabled", params.get("enabled", "")),
            ("zpool", params.get("zpool", "")),
        )
        yield _gauge("memmond_zswap_info").add(1, labels)
        if params.get("max_pool_percent", "").isdigit():
            yield _gauge("memmond_zswap_max_pool_ratio", int(params["max_pool_percent"]) / 100)
        meminfo = pub.snapshot.meminfo
        pool, held = (meminfo.get("Zswap"), meminfo.get("Zswapped")) if meminfo is not None else (None, None)
        if pool and held is not None:
            yield _gauge("memmond_zswap_compression_ratio", held / pool)
    if sample.zswap_stats:
        stats = sample.zswap_stats
        if "written_back_pages" in stats:
            yield _counter("memmond_zswap_written_back_pages_total", stats["written_back_pages"])
        if "pool_limit_hit" in stats:
            yield _counter("memmond_zswap_pool_limit_hits_total", stats["pool_limit_hit"])
        rejects = _counter("memmond_zswap_rejects_total")
        for name, value in sorted(stats.items()):
            if name.startswith("reject_"):
                rejects.add(value, (("reason", name.removeprefix("reject_")),), "_total")
        if rejects.samples:
            yield rejects
    yield from _arc_families(pub, sample)


def _zram_families(sample: SystemSample) -> Iterator[Family]:
    if not sample.zram:
        return
    info = _gauge("memmond_zram_info")
    sizes = {
        "memmond_zram_disk_size_bytes": lambda d: d.disksize_bytes,
        "memmond_zram_original_bytes": lambda d: d.mm.get("orig_data_size"),
        "memmond_zram_compressed_bytes": lambda d: d.mm.get("compr_data_size"),
        "memmond_zram_memory_used_bytes": lambda d: d.mm.get("mem_used_total"),
    }
    counts = {
        "memmond_zram_compression_ratio": lambda d: d.compression_ratio,
        "memmond_zram_same_pages": lambda d: d.mm.get("same_pages"),
        "memmond_zram_huge_pages": lambda d: d.mm.get("huge_pages"),
    }
    for device in sample.zram:
        info.add(1, (("algorithm", device.algorithm or ""), ("device", device.name)))
    yield info
    for metrics, unit in ((sizes, "bytes"), (counts, "")):
        for metric, value_of in metrics.items():
            family = _gauge(metric, unit=unit)
            for device in sample.zram:
                value = value_of(device)
                if value is not None:
                    family.add(value, (("device", device.name),))
            yield family
    failed = _counter("memmond_zram_failed_writes_total")
    for device in sample.zram:
        if "failed_writes" in device.io:
            failed.add(device.io["failed_writes"], (("device", device.name),), "_total")
    yield failed


_ARC_SIZES = {
    "memmond_zfs_arc_size_bytes": "size",
    "memmond_zfs_arc_target_size_bytes": "c",
    "memmond_zfs_arc_min_size_bytes": "c_min",
    "memmond_zfs_arc_max_size_bytes": "c_max",
    "memmond_zfs_arc_mru_size_bytes": "mru_size",
    "memmond_zfs_arc_mfu_size_bytes": "mfu_size",
}
_ARC_COUNTERS = {
    "memmond_zfs_arc_hits_total": "hits",
    "memmond_zfs_arc_misses_total": "misses",
    "memmond_zfs_arc_memory_throttles_total": "memory_throttle_count",
}


def _arc_families(pub: Published, sample: SystemSample) -> Iterator[Family]:
    if not sample.arc:
        return
    for metric, row in _ARC_SIZES.items():
        if row in sample.arc:
            yield _gauge(metric, sample.arc[row], unit="bytes")
    for metric, row in _ARC_COUNTERS.items():
        if row in sample.arc:
            yield _counter(metric, sample.arc[row])
    yield _gauge("memmond_zfs_arc_shrinkable_bytes", sample.arc_shrinkable_bytes or 0, unit="bytes")


def _oom_families(pub: Published) -> Iterator[Family]:
    yield _gauge("memmond_oom_victims_readable", 1 if pub.oom_victims_readable else 0)
    kills = _counter("memmond_oom_kills_total")
    for (path, unit), count in sorted(pub.oom_kills.items()):
        kills.add(count, (("cgroup", path), ("unit", unit)), "_total")
    yield kills


def _cgroup_families(pub: Published) -> Iterator[Family]:
    sample = pub.cgroups
    if sample is None:
        return
    yield _gauge("memmond_cgroups_dropped", sample.dropped)
    yield _gauge("memmond_cgroup_walk_duration_seconds", sample.seconds, unit="seconds")
    full = pub.cgroup_detail == "full"
    memory = _gauge("memmond_cgroup_memory_bytes", unit="bytes")
    limits = _gauge("memmond_cgroup_memory_limit_bytes", unit="bytes")
    working = _gauge("memmond_cgroup_memory_working_set_bytes", unit="bytes")
    anon = _gauge("memmond_cgroup_memory_anon_bytes", unit="bytes")
    file = _gauge("memmond_cgroup_memory_file_bytes", unit="bytes")
    swap = _gauge("memmond_cgroup_swap_bytes", unit="bytes")
    events = _counter("memmond_cgroup_memory_events_total")
    stalled = _counter("memmond_cgroup_pressure_stalled_seconds_total")
    stat_bytes = _gauge("memmond_cgroup_memory_stat_bytes", unit="bytes")
    stat_events = _counter("memmond_cgroup_memory_stat_events_total")
    for cg in sample.cgroups:
        labels = (("cgroup", cg.path), ("unit", cg.unit))
        for family, value in (
            (memory, cg.current),
            (working, cg.working_set),
            (anon, cg.anon),
            (file, cg.file),
            (swap, cg.swap),
        ):
            if value is not None:
                family.add(value, labels)
        for kind, value in cg.limits.items():
            limits.add(value, (("cgroup", cg.path), ("kind", kind), ("unit", cg.unit)))
        for event, count in cg.events.items():
            if full or event in _BASIC_EVENTS:
                events.add(count, (("cgroup", cg.path), ("event", event), ("unit", cg.unit)), "_total")
        if cg.pressure is not None:
            for kind in pressure.KINDS:
                line = cg.pressure.line(kind)
                if line is not None:
                    stalled.add(line.total_seconds, (("cgroup", cg.path), ("kind", kind), ("unit", cg.unit)), "_total")
        if full:
            for item, value in cg.stat.items():
                item_labels = (("cgroup", cg.path), ("item", item), ("unit", cg.unit))
                if cgroup_source.is_counter(item):
                    stat_events.add(value, item_labels, "_total")
                else:
                    stat_bytes.add(value, item_labels)
    yield from (memory, limits, working, anon, file, swap, events, stalled)
    if full:
        yield from (stat_bytes, stat_events)


class _Memo:
    """The families of one builder, kept while what it reads stays the same: a scrape finds a new sample
    every time, but the rules' states, PSI's figures (the kernel updates them every 2 s) and the OOM
    counts rarely changed since the last one. Kept families are the same objects, so the encoder sees
    their samples unchanged at once and copies their text. `inputs` must be everything the builder reads."""

    __slots__ = ("families", "inputs")

    def __init__(self) -> None:
        self.inputs: tuple[object, ...] | None = None
        self.families: list[Family] = []

    def get(self, inputs: tuple[object, ...], build: Callable[[], Iterable[Family]]) -> list[Family]:
        last = self.inputs
        if last is None or any(a is not b and a != b for a, b in zip(inputs, last, strict=True)):
            self.families, self.inputs = list(build()), inputs
        return self.families


_RULES_MEMO, _PRESSURE_MEMO, _OOM_MEMO, _SOURCES_MEMO = _Memo(), _Memo(), _Memo(), _Memo()


def build_families(pub: Published) -> list[Family]:
    snap = pub.snapshot
    off = pub.families_off
    families: list[Family] = [
        *(() if "meminfo" in off or snap.meminfo is None else _field_families("meminfo", snap.meminfo)),
        *(() if "vmstat" in off or snap.vmstat is None else _field_families("vmstat", snap.vmstat, pub.vmstat_all)),
        *(() if "pressure" in off else _PRESSURE_MEMO.get((snap.pressure,), lambda: _pressure_families(snap))),
    ]
    for name, value in snap.derived().items():
        metric, unit = _DERIVED_METRICS[name]
        families.append(_kept_gauge(metric, value, unit))
    if snap.meminfo is not None:
        families.append(_kept_gauge("memmond_memory_available_estimated", 1 if snap.mem_available_estimated else 0))
    for name, value in pub.extremes.items():
        families.append(_kept_gauge(f"{PREFIX}{name}", value, unit="bytes"))
    families.append(_kept_gauge("memmond_extremes_window_seconds", pub.extremes_window_seconds, unit="seconds"))
    rule_inputs = (pub.rules, pub.pressure_level, pub.stats.level_changes_total, pub.tunables)
    families.extend(_RULES_MEMO.get(rule_inputs, lambda: _rule_families(pub)))
    families.extend(_rate_families(pub))
    families.extend(_watch_families(pub))
    families.extend(_cgroup_families(pub))
    families.extend(_OOM_MEMO.get((pub.oom_victims_readable, pub.oom_kills), lambda: _oom_families(pub)))
    families.extend(_psi_trigger_families(pub))
    families.extend(_event_families(pub))
    families.extend(_system_families(pub))
    families.extend(_self_families(pub))
    return families


# One encoder per format for the process: their caches carry line prefixes from sample to sample.
_ENCODERS = {TEXT_CONTENT_TYPE: Encoder(openmetrics=False), OPENMETRICS_CONTENT_TYPE: Encoder(openmetrics=True)}
GZIP_LEVEL = 1  # a 60 KB exposition: level 1 in 0.1 ms to 9.8 KB, level 6 in 0.8 ms to 8.6 KB


def gzip_compress(data: bytes) -> bytes:
    """gzip at GZIP_LEVEL, without the gzip module (zlib with a gzip header; mtime 0, as gzip.compress)."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


@dataclass(frozen=True)
class RuleStatus:
    """One rule as the latest sample left it (a copy: the engine keeps mutating its own state)."""

    name: str
    severity: str
    origin: str
    labels: tuple[tuple[str, str], ...]
    state: str
    events_total: int
    per_cgroup: bool = False
    firing: tuple[tuple[str, str], ...] = ()  # (cgroup, unit) a per-cgroup rule fires for
    since_monotonic: float = 0.0  # when the current state began
    summary: str = ""  # what it said when it last fired

    def to_dict(self, now_monotonic: float) -> dict[str, object]:
        """The rule as /api/v1/rules gives it (and `memmond` shows what fires)."""
        active = self.state != "inactive" and not self.per_cgroup
        return {
            "name": self.name,
            "severity": self.severity,
            "origin": self.origin,
            "labels": dict(self.labels),
            "state": self.state,
            "active_seconds": round(now_monotonic - self.since_monotonic, 3) if active else None,
            "summary": self.summary if self.state == "firing" else "",
            "events_total": self.events_total,
            "firing_cgroups": [{"cgroup": cgroup, "unit": unit} for cgroup, unit in self.firing],
        }


@dataclass
class Published:
    """Everything one sample exposes. Immutable once published, except the render cache, which only the
    loop's thread touches."""

    snapshot: Snapshot
    extremes: dict[str, float]
    extremes_window_seconds: float
    interval_seconds: float
    stats: SelfStats
    rules: tuple[RuleStatus, ...] = ()
    rate_base: Snapshot | None = None  # the oldest sample within the rates window
    # The sampler's own ring (not a copy: the loop's one thread serves and samples, so nothing reads it
    # while it changes); the trend API reads it.
    history: History | None = None
    level_changes: tuple[LevelChange, ...] = ()
    files: tuple[FileSample, ...] = ()
    processes: tuple[ProcessSample, ...] = ()
    watch_interval_seconds: float = 0.0
    pressure_level: str = "low"
    tunables: dict[str, int] = field(default_factory=dict)
    vmstat_all: bool = False  # exposition.vmstat: all
    families_off: frozenset[str] = frozenset()  # exposition.families switched off
    cgroups: CgroupSample | None = None
    cgroup_detail: str = "basic"
    oom_kills: dict[tuple[str, str], int] = field(default_factory=dict)  # (cgroup, unit) -> kernel log kills
    oom_recent: tuple[dict[str, object], ...] = ()
    oom_victims_readable: bool = False
    psi_trigger_modes: dict[str, int] = field(default_factory=dict)  # kernel / polling -> triggers
    psi_trigger_events: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, cgroup) -> fired
    events_total: dict[str, int] = field(default_factory=dict)  # trigger -> events it opened
    event_store: EventStore | None = None  # the loop's own store (one thread: read where it stands)
    system: SystemSample | None = None  # the subsystems beyond meminfo, at system.interval
    system_interval_seconds: float = 0.0
    system_errors_total: dict[str, int] = field(default_factory=dict)
    _cache: dict[tuple[str, bool], bytes] = field(default_factory=dict, repr=False)
    _families: list[Family] | None = field(default=None, repr=False)

    def families(self) -> list[Family]:
        if self._families is None:
            self._families = build_families(self)
        return self._families

    def render(self, openmetrics: bool, gzip_ok: bool, names: frozenset[str] | None = None) -> tuple[bytes, str]:
        """The body and content type for a scrape (the HTTP layer negotiates both); built at most once
        per (format, gzip) per sample. `names` (the `name[]=` parameters, as prometheus_client takes
        them) keeps only the samples of those names, rendered apart from the shared caches."""
        content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        if names is not None:
            chosen = []
            for family in self.families():
                samples = [s for s in family.samples if family.name + s[0] in names]
                if samples:
                    part = Family(family.name, family.type, family.help, family.unit)
                    part.samples = samples
                    chosen.append(part)
            body = Encoder(openmetrics).render(chosen)
            return (gzip_compress(body) if gzip_ok else body), content_type
        key = (content_type, gzip_ok)
        body = self._cache.get(key)
        if body is None:
            plain = self._cache.get((content_type, False))
            if plain is None:
                plain = self._cache[(content_type, False)] = _ENCODERS[content_type].render(self.families())
            body = self._cache[key] = gzip_compress(plain) if gzip_ok else plain
        return body, content_type


if __name__ == "__main__":
    # `python -m memmond.serve.exposition` prints the README's metric reference table.
    print(catalogue_markdown())
