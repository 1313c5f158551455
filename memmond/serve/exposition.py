"""Prometheus exposition: the metric catalogue, metric families built from the published state, and
rendering to bytes at most once per sample and format.

The sampling thread publishes an immutable `Published` state; scrapes call `Published.render`, which
builds and encodes the families on the first scrape after a sample and hands every later scrape of that
sample the cached bytes. At 10 Hz sampling with 15 s scrapes that renders 1 sample in 150, instead of
encoding 150 times for nobody. No scrape ever reads /proc.
"""

from __future__ import annotations

import gzip
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.samples import Sample

from memmond import __version__
from memmond.config import LEVELS
from memmond.model import efficiency
from memmond.model.history import EXTREMES
from memmond.model.snapshot import DERIVED, SOURCES, Snapshot
from memmond.model.trend import LevelChange
from memmond.model.watch import FileSample, ProcessSample
from memmond.sources import pressure, vmtunables
from memmond.sources.meminfo import snake_name
from memmond.sources.vmstat import is_counter

PREFIX = "memmond_"
JITTER_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
SAMPLE_DURATION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


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
            "Every /proc/vmstat event counter (pgfault, pgmajfault, workingset_refault_file, oom_kill, ...).",
        ),
        MetricSpec(
            "memmond_vmstat_<field>",
            "gauge",
            "Every /proc/vmstat current amount (nr_* fields, in pages; workingset_nodes).",
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
        metric = f"{PREFIX}{name}" + ("_bytes" if spec.unit == "bytes" else "")
        specs.append(MetricSpec(metric, "gauge", f"{spec.formula}. {spec.help}"))
    specs.append(
        MetricSpec(
            "memmond_memory_available_estimated",
            "gauge",
            "1 when the kernel has no MemAvailable (before 3.14) and memmond estimates it "
            "as MemFree + Buffers + Cached.",
        )
    )
    for name, (_, _, what) in EXTREMES.items():
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
            "1 while the rule fires. Carries the rule's own labels from the config too.",
            ("rule", "severity"),
        ),
        MetricSpec(
            "memmond_rule_pending",
            "gauge",
            "1 while the rule's expression holds but its 'for' has not passed yet.",
            ("rule",),
        ),
        MetricSpec(
            "memmond_rule_events_total",
            "counter",
            "Times the rule started firing since memmond started.",
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


CATALOGUE: dict[str, MetricSpec] = {spec.name: spec for spec in _spec_list()}


def catalogue_markdown() -> str:
    """The README's metric reference, generated so it cannot drift from the code."""
    lines = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for spec in CATALOGUE.values():
        labels = ", ".join(spec.labels) or "-"
        lines.append(f"| `{spec.name}` | {spec.type} | {labels} | {spec.help} |")
    return "\n".join(lines)


def _count_into(bounds: tuple[float, ...], counts: list[int], value: float) -> None:
    """One observation into per-bucket (not cumulative) counts; the last count is the +Inf bucket."""
    for index, bound in enumerate(bounds):
        if value <= bound:
            counts[index] += 1
            return
    counts[-1] += 1


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
        for source in snap.errors:
            if source not in snap.unavailable:
                self.source_errors_total[source] += 1
        for source, parsed in ((s, getattr(snap, s)) for s in SOURCES):
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


def _gauge(name: str, value: float | None = None, labels: Iterable[str] = (), unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(name, CATALOGUE[name].help, value=value, labels=list(labels) or None, unit=unit)


def _counter(name: str, value: float | None = None, labels: Iterable[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, CATALOGUE[name].help, value=value, labels=list(labels) or None)


def _histogram(name: str, bounds: tuple[float, ...], counts: list[int], total: float) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip(bounds, counts, strict=False):
        cumulative += count
        buckets.append((repr(bound), cumulative))
    buckets.append(("+Inf", cumulative + counts[-1]))
    return HistogramMetricFamily(name, CATALOGUE[name].help, buckets=buckets, sum_value=total, unit="seconds")


def _meminfo_families(snap: Snapshot) -> Iterator[Metric]:
    if snap.meminfo is None:
        return
    for field_name, value in snap.meminfo.items():
        help_text = f"/proc/meminfo {field_name}"
        if snap.meminfo.is_count(field_name):
            yield GaugeMetricFamily(
                f"{PREFIX}meminfo_{metric_safe(snake_name(field_name))}_pages",
                f"{help_text} (pages).",
                value=value,
            )
        else:
            yield GaugeMetricFamily(
                f"{PREFIX}meminfo_{metric_safe(snake_name(field_name))}_bytes",
                f"{help_text} in bytes.",
                value=value,
                unit="bytes",
            )


def _vmstat_families(snap: Snapshot) -> Iterator[Metric]:
    if snap.vmstat is None:
        return
    for field_name, value in snap.vmstat.items():
        if is_counter(field_name):
            yield CounterMetricFamily(
                f"{PREFIX}vmstat_{metric_safe(field_name)}", f"/proc/vmstat {field_name}.", value=value
            )
        else:
            yield GaugeMetricFamily(
                f"{PREFIX}vmstat_{metric_safe(field_name)}", f"/proc/vmstat {field_name}.", value=value
            )


def _pressure_families(snap: Snapshot) -> Iterator[Metric]:
    if snap.pressure is None:
        return
    totals = _counter("memmond_pressure_stall_seconds_total", labels=("kind",))
    ratios = _gauge("memmond_pressure_stall_ratio", labels=("kind", "window"))
    for kind in pressure.KINDS:
        line = snap.pressure.line(kind)
        if line is None:
            continue
        totals.add_metric([kind], line.total_seconds)
        for window in pressure.WINDOWS:
            ratios.add_metric([kind, f"{window}s"], line.avg(window))
    yield totals
    yield ratios


def _self_families(pub: Published) -> Iterator[Metric]:
    stats, snap = pub.stats, pub.snapshot
    info = _gauge("memmond_build_info", labels=("version", "python"))
    info.add_metric([__version__, ".".join(map(str, sys.version_info[:3]))], 1)
    yield info
    yield _counter("memmond_samples_total", stats.samples_total)
    yield _counter("memmond_samples_skipped_total", stats.samples_skipped_total)
    yield _histogram(
        "memmond_sample_duration_seconds", SAMPLE_DURATION_BUCKETS, stats.duration_bucket_counts, stats.duration_sum
    )
    yield _gauge("memmond_sample_interval_seconds", pub.interval_seconds, unit="seconds")
    yield _histogram("memmond_sample_jitter_seconds", JITTER_BUCKETS, stats.jitter_bucket_counts, stats.jitter_sum)
    yield _gauge("memmond_last_sample_timestamp_seconds", snap.wall_time, unit="seconds")
    up = _gauge("memmond_source_up", labels=("source",))
    unavailable = _gauge("memmond_source_unavailable", labels=("source",))
    errors = _counter("memmond_source_errors_total", labels=("source",))
    skipped = _counter("memmond_source_lines_skipped_total", labels=("source",))
    for source in SOURCES:
        up.add_metric([source], 0 if source in snap.errors else 1)
        unavailable.add_metric([source], 1 if source in snap.unavailable else 0)
        errors.add_metric([source], stats.source_errors_total[source])
        skipped.add_metric([source], stats.lines_skipped_total[source])
    yield from (up, unavailable, errors, skipped)
    yield _gauge("memmond_config_last_reload_successful", 1 if stats.config_reload_ok else 0)
    yield _gauge(
        "memmond_config_last_reload_success_timestamp_seconds",
        stats.config_reload_success_time,
        unit="seconds",
    )


def _rule_families(pub: Published) -> Iterator[Metric]:
    active = _gauge("memmond_rule_active")
    for rule in pub.rules:
        labels = {"rule": rule.name, "severity": rule.severity, **dict(rule.labels)}
        active.samples.append(Sample("memmond_rule_active", labels, 1.0 if rule.state == "firing" else 0.0))
    yield active
    pending = _gauge("memmond_rule_pending", labels=("rule",))
    events = _counter("memmond_rule_events_total", labels=("rule", "severity"))
    loaded = _gauge("memmond_rules_loaded", labels=("origin",))
    for rule in pub.rules:
        pending.add_metric([rule.name], 1.0 if rule.state == "pending" else 0.0)
        events.add_metric([rule.name, rule.severity], rule.events_total)
    for origin in ("builtin", "config"):
        loaded.add_metric([origin], sum(1 for rule in pub.rules if rule.origin == origin))
    yield from (pending, events, loaded)

    level = _gauge("memmond_pressure_level", labels=("level",))
    changes = _counter("memmond_pressure_level_changes_total", labels=("to",))
    for name in LEVELS:
        level.add_metric([name], 1.0 if name == pub.pressure_level else 0.0)
        changes.add_metric([name], pub.stats.level_changes_total[name])
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


def _watch_families(pub: Published) -> Iterator[Metric]:
    if not pub.files and not pub.processes:
        return
    yield _gauge("memmond_watch_interval_seconds", pub.watch_interval_seconds, unit="seconds")
    up = _gauge("memmond_file_watch_up", labels=("path",))
    for sample in pub.files:
        up.add_metric([sample.path], 0.0 if sample.error else 1.0)
    yield up
    yield from _labelled_families(pub.files, _FILE_METRICS, "path", lambda sample: sample.path)
    up = _gauge("memmond_process_watch_up", labels=("name",))
    count = _gauge("memmond_process_count", labels=("name",))
    for proc in pub.processes:
        up.add_metric([proc.name], 0.0 if proc.error else 1.0)
        count.add_metric([proc.name], len(proc.pids))
    yield from (up, count)
    yield from _labelled_families(pub.processes, _PROCESS_METRICS, "name", lambda proc: proc.name)


def _labelled_families(
    items: Iterable[FileSample | ProcessSample],
    metrics: tuple[tuple[str, str], ...],
    label: str,
    label_of: Callable[[Any], str],
) -> Iterator[Metric]:
    """One byte gauge per (metric, attribute), a sample per watched item that was measured and has it."""
    items = list(items)
    for metric, attribute in metrics:
        family = _gauge(metric, labels=(label,), unit="bytes")
        for item in items:
            value = getattr(item, attribute)
            if item.error is None and value is not None:
                family.add_metric([label_of(item)], value)
        yield family


def _rate_families(pub: Published) -> Iterator[Metric]:
    if pub.rate_base is None or pub.rate_base is pub.snapshot:
        return
    yield _gauge("memmond_rates_window_seconds", pub.snapshot.monotonic - pub.rate_base.monotonic, unit="seconds")
    values = efficiency.rates(pub.rate_base, pub.snapshot)
    families: dict[str, GaugeMetricFamily] = {}
    for spec in efficiency.RATES:
        value = values[spec.name]
        if value is None:
            continue
        labels = tuple(k for k, _ in spec.labels)
        family = families.get(spec.metric)
        if family is None:
            family = families[spec.metric] = _gauge(spec.metric, labels=labels)
        if labels:
            family.add_metric([v for _, v in spec.labels], value)
        else:
            family.add_metric([], value)
    yield from families.values()


def build_families(pub: Published) -> list[Metric]:
    snap = pub.snapshot
    families: list[Metric] = [*_meminfo_families(snap), *_vmstat_families(snap), *_pressure_families(snap)]
    for name, value in snap.derived().items():
        unit = DERIVED[name].unit
        families.append(
            _gauge(
                f"{PREFIX}{name}" + ("_bytes" if unit == "bytes" else ""),
                value,
                unit="bytes" if unit == "bytes" else "",
            )
        )
    if snap.meminfo is not None:
        families.append(_gauge("memmond_memory_available_estimated", 1 if snap.mem_available_estimated else 0))
    for name, value in pub.extremes.items():
        families.append(_gauge(f"{PREFIX}{name}", value, unit="bytes"))
    families.append(_gauge("memmond_extremes_window_seconds", pub.extremes_window_seconds, unit="seconds"))
    families.extend(_rule_families(pub))
    families.extend(_rate_families(pub))
    families.extend(_watch_families(pub))
    families.extend(_self_families(pub))
    return families


class _Families:
    """What prometheus-client's encoders take as a registry: anything with collect()."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


@dataclass(frozen=True)
class RuleStatus:
    """One rule as the latest sample left it (a copy: the engine keeps mutating its own state)."""

    name: str
    severity: str
    origin: str
    labels: tuple[tuple[str, str], ...]
    state: str
    events_total: int


@dataclass
class Published:
    """Everything one sample exposes. Immutable once published, except the render cache."""

    snapshot: Snapshot
    extremes: dict[str, float]
    extremes_window_seconds: float
    interval_seconds: float
    stats: SelfStats
    rules: tuple[RuleStatus, ...] = ()
    rate_base: Snapshot | None = None  # the oldest sample within the rates window
    history: tuple[Snapshot, ...] = ()  # oldest first; a copy, so HTTP threads can read it freely
    level_changes: tuple[LevelChange, ...] = ()
    files: tuple[FileSample, ...] = ()
    processes: tuple[ProcessSample, ...] = ()
    watch_interval_seconds: float = 0.0
    pressure_level: str = "low"
    tunables: dict[str, int] = field(default_factory=dict)
    _cache: dict[tuple[str, bool], bytes] = field(default_factory=dict, repr=False)
    _families: list[Metric] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def render(self, accept: str | None, gzip_ok: bool) -> tuple[bytes, str]:
        """The body and content type for a scrape; built at most once per (format, gzip) per sample."""
        encoder, content_type = choose_encoder(accept or "")
        key = (content_type, gzip_ok)
        body = self._cache.get(key)
        if body is None:
            with self._lock:  # concurrent first scrapes of a sample render once, not N times
                body = self._cache.get(key)
                if body is None:
                    plain = self._cache.get((content_type, False))
                    if plain is None:
                        if self._families is None:
                            self._families = build_families(self)
                        plain = encoder(_Families(self._families))  # type: ignore[arg-type]
                        self._cache[(content_type, False)] = plain
                    body = gzip.compress(plain, compresslevel=6) if gzip_ok else plain
                    self._cache[key] = body
        return body, content_type


if __name__ == "__main__":
    # `python -m memmond.serve.exposition` prints the README's metric reference table.
    print(catalogue_markdown())
