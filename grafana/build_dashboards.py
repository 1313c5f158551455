"""The dashboards' panels, in a few readable lines each instead of 1000 lines of JSON. They become
mixin/dashboards/*.libsonnet, templates taking the mixin's _config.selector (written __SELECTOR__
below); the mixin (jsonnet) renders them into grafana/dashboards/*.json. One command does both steps:

    mixin/render.sh

Both outputs are committed (Grafana provisioning and mixin importers read them); tests fail when either
differs from what this file and the mixin produce. Every query uses the $datasource variable and the
selector: no datasource UID is hard-coded, so the dashboards import into any Grafana with any
Prometheus-compatible datasource.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "mixin" / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
# Stands for the mixin's _config.selector (default job="memmond") in every query; the templates in
# mixin/dashboards/ take it as their argument (see _template).
SELECTOR = "__SELECTOR__"
I = f'{SELECTOR}, job=~"$job", instance=~"$instance"'  # noqa: E741 (the label matchers every query carries)

# Marks on every time series panel: memory events (a stall, an OOM kill, a recorded rule) and OOM kills,
# each linking to where the evidence is (memmond events ID, or /api/v1/events on the host).
ANNOTATIONS = [
    {
        "name": "Memory events",
        "datasource": DS,
        "enable": True,
        "iconColor": "orange",
        "expr": f"changes(memmond_events_total{{{I}}}[2m]) > 0",
        "step": "60s",
        "titleFormat": "memory event ({{trigger}}) on {{instance}}",
        "textFormat": "curl http://{{instance}}/api/v1/events, or memmond events on the host",
        "tagKeys": "trigger,instance",
    },
    {
        "name": "OOM kills",
        "datasource": DS,
        "enable": True,
        "iconColor": "red",
        "expr": f"increase(memmond_oom_kills_total{{{I}}}[2m]) > 0",
        "step": "60s",
        "titleFormat": "OOM kill in {{cgroup}} on {{instance}}",
        "textFormat": "the victim: curl http://{{instance}}/api/v1/oom",
        "tagKeys": "unit,instance",
    },
]
C = 'cgroup=~"$cgroup"'  # the cgroup variable, on the Services row's queries
CGROUP_VALUES = f"label_values(memmond_cgroup_memory_bytes{{{I}}}, cgroup)"

# (title, unit, kind, [(legend, expr)], extra panel options)
Panel = tuple[str, str, str, list[tuple[str, str]], dict[str, Any]]

OVERVIEW: list[tuple[str, list[Panel]]] = [
    (
        "Memory",
        [
            (
                "Memory composition",
                "bytes",
                "stacked",
                [
                    (
                        "used (anon, kernel, other)",
                        f"memmond_meminfo_mem_total_bytes{{{I}}} - memmond_meminfo_mem_free_bytes{{{I}}}"
                        f" - memmond_meminfo_cached_bytes{{{I}}} - memmond_meminfo_buffers_bytes{{{I}}}"
                        f" - memmond_meminfo_slab_bytes{{{I}}}",
                    ),
                    ("page cache (Cached)", f"memmond_meminfo_cached_bytes{{{I}}}"),
                    ("buffers", f"memmond_meminfo_buffers_bytes{{{I}}}"),
                    ("slab", f"memmond_meminfo_slab_bytes{{{I}}}"),
                    ("free", f"memmond_meminfo_mem_free_bytes{{{I}}}"),
                ],
                {},
            ),
            (
                "Available, with its window minimum",
                "bytes",
                "lines",
                [
                    ("available", f"memmond_meminfo_mem_available_bytes{{{I}}}"),
                    ("window minimum", f"memmond_mem_available_min_bytes{{{I}}}"),
                    ("total", f"memmond_meminfo_mem_total_bytes{{{I}}}"),
                ],
                {},
            ),
            (
                "Pressure level",
                "none",
                "state",
                [
                    (
                        "level",
                        f'memmond_pressure_level{{{I}, level="medium"}} * 1'
                        f' + ignoring(level) memmond_pressure_level{{{I}, level="high"}} * 2'
                        f' + ignoring(level) memmond_pressure_level{{{I}, level="critical"}} * 3',
                    ),
                ],
                {},
            ),
            (
                "Memory pressure stall (PSI, avg10)",
                "percentunit",
                "lines",
                [
                    ("{{kind}}", f'memmond_pressure_stall_ratio{{{I}, window="10s"}}'),
                ],
                {},
            ),
        ],
    ),
    (
        "Page cache and I/O",
        [
            (
                "Dirty and writeback",
                "bytes",
                "lines",
                [
                    ("dirty", f"memmond_meminfo_dirty_bytes{{{I}}}"),
                    ("dirty, window maximum", f"memmond_dirty_max_bytes{{{I}}}"),
                    ("writeback", f"memmond_meminfo_writeback_bytes{{{I}}}"),
                ],
                {},
            ),
            (
                "Active vs inactive file pages",
                "bytes",
                "lines",
                [
                    ("active(file)", f"memmond_meminfo_active_file_bytes{{{I}}}"),
                    ("inactive(file)", f"memmond_meminfo_inactive_file_bytes{{{I}}}"),
                ],
                {},
            ),
            (
                "Refaults and thrashing",
                "short",
                "lines",
                [
                    ("refaults/s", f"memmond_page_cache_refaults_per_second{{{I}}}"),
                    ("thrashing (restores)/s", f"memmond_page_cache_thrashing_per_second{{{I}}}"),
                ],
                {},
            ),
            (
                "Major page faults",
                "short",
                "lines",
                [
                    ("major faults/s", f"rate(memmond_vmstat_pgmajfault_total{{{I}}}[$__rate_interval])"),
                ],
                {},
            ),
        ],
    ),
    (
        "Rules",
        [
            (
                "Rule events",
                "short",
                "bars",
                [
                    ("{{rule}}", f"sum by (rule) (increase(memmond_rule_events_total{{{I}}}[$__rate_interval]))"),
                ],
                {},
            ),
            (
                "Firing rules",
                "none",
                "table",
                [
                    ("", f"memmond_rule_active{{{I}}} == 1"),
                ],
                {},
            ),
        ],
    ),
    (
        "Services (cgroups)",
        [
            (
                "Top 10 cgroups by memory",
                "bytes",
                "lines",
                [("{{cgroup}}", f'topk(10, memmond_cgroup_memory_bytes{{{I}, {C}, cgroup!="/"}})')],
                {},
            ),
            (
                "Share of the memory limit (MemoryMax=)",
                "percentunit",
                "lines",
                [
                    (
                        "{{cgroup}}",
                        f"memmond_cgroup_memory_bytes{{{I}, {C}}} / on (instance, job, cgroup, unit)"
                        f' memmond_cgroup_memory_limit_bytes{{{I}, {C}, kind="max"}}',
                    )
                ],
                {},
            ),
            (
                "Memory stall by cgroup (PSI some)",
                "percentunit",
                "lines",
                [
                    (
                        "{{cgroup}}",
                        "rate(memmond_cgroup_pressure_stalled_seconds_total"
                        f'{{{I}, {C}, kind="some"}}[$__rate_interval])',
                    )
                ],
                {},
            ),
            (
                "OOM kills by cgroup",
                "none",
                "bars",
                [
                    ("{{cgroup}} (kernel log)", f"increase(memmond_oom_kills_total{{{I}, {C}}}[$__rate_interval])"),
                    (
                        "{{cgroup}} (memory.events)",
                        f'increase(memmond_cgroup_memory_events_total{{{I}, {C}, event="oom_kill"}}[$__rate_interval])',
                    ),
                ],
                {},
            ),
        ],
    ),
    (
        "Watched files and processes",
        [
            (
                "Watched files in the page cache",
                "bytes",
                "lines",
                [
                    ("{{path}} resident", f"memmond_file_cache_resident_bytes{{{I}}}"),
                    ("{{path}} size", f"memmond_file_size_bytes{{{I}}}"),
                ],
                {},
            ),
            (
                "Watched processes",
                "bytes",
                "lines",
                [
                    ("{{name}} RSS", f"memmond_process_rss_bytes{{{I}}}"),
                    ("{{name}} swap", f"memmond_process_swap_bytes{{{I}}}"),
                ],
                {},
            ),
        ],
    ),
    (
        "Swap and OOM kills",
        [
            (
                "Swap in use and paging",
                "bytes",
                "lines",
                [
                    ("swap used", f"memmond_meminfo_swap_total_bytes{{{I}}} - memmond_meminfo_swap_free_bytes{{{I}}}"),
                    (
                        "swapped in/s (pages x 4 KiB)",
                        f"rate(memmond_vmstat_pswpin_total{{{I}}}[$__rate_interval]) * 4096",
                    ),
                    (
                        "swapped out/s (pages x 4 KiB)",
                        f"rate(memmond_vmstat_pswpout_total{{{I}}}[$__rate_interval]) * 4096",
                    ),
                ],
                {},
            ),
            (
                "OOM kills (the kernel's count)",
                "short",
                "bars",
                [("OOM kills", f"increase(memmond_vmstat_oom_kill_total{{{I}}}[$__rate_interval])")],
                {},
            ),
        ],
    ),
    (
        "memmond itself",
        [
            (
                "Sample duration (p99) and skipped samples",
                "s",
                "lines",
                [
                    (
                        "p99 sample",
                        f"histogram_quantile(0.99, sum by (instance, le) "
                        f"(rate(memmond_sample_duration_seconds_bucket{{{I}}}[$__rate_interval])))",
                    ),
                    ("skipped samples/s", f"rate(memmond_samples_skipped_total{{{I}}}[$__rate_interval])"),
                ],
                {},
            ),
            (
                "Sources down and their errors",
                "short",
                "lines",
                [
                    ("{{source}} down", f"1 - memmond_source_up{{{I}}}"),
                    ("{{source}} errors/s", f"rate(memmond_source_errors_total{{{I}}}[$__rate_interval])"),
                ],
                {},
            ),
            (
                "Series per scrape",
                "short",
                "lines",
                [("series", f"scrape_samples_scraped{{{I}}}")],
                {},
            ),
        ],
    ),
]


# The fleet dashboard: every host of the selected jobs at once, to find the few that need a look. No
# instance variable and no line per host where a fleet has thousands: counts, sums and top-10 tables.
J = f'{SELECTOR}, job=~"$job"'
SERVICES = r'unit=~".+\\.(service|scope)"'  # systemd services and scopes; slices are their sums
FLEET: list[tuple[str, list[Panel]]] = [
    (
        "Fleet",
        [
            (
                "Hosts per pressure level",
                "short",
                "stacked_total",
                [("{{level}}", f"count by (level) (memmond_pressure_level{{{J}}} == 1)")],
                {},
            ),
            (
                "Hosts down or stale",
                "short",
                "lines",
                [
                    ("down (scrape failed)", f"count(up{{{J}}} == 0) or vector(0)"),
                    (
                        "stale (no sample for 60 s)",
                        f"count(time() - memmond_last_sample_timestamp_seconds{{{J}}} > 60) or vector(0)",
                    ),
                ],
                {},
            ),
            (
                "The 10 hosts with the least memory available",
                "percentunit",
                "ranking",
                [("", f"bottomk(10, memmond_memory_available_ratio{{{J}}})")],
                {},
            ),
            (
                "Which hosts are down or stale now",
                "none",
                "table",
                [
                    (
                        "",
                        f"up{{{J}}} == 0 or (time() - memmond_last_sample_timestamp_seconds{{{J}}} > 60)",
                    )
                ],
                {},
            ),
            (
                "Available memory: the 10 lowest hosts",
                "percentunit",
                "lines",
                [("{{instance}}", f"bottomk(10, memmond_memory_available_ratio{{{J}}})")],
                {},
            ),
            (
                "Available memory across the fleet",
                "percentunit",
                "lines",
                [
                    ("lowest host", f"min(memmond_memory_available_ratio{{{J}}})"),
                    ("median host", f"quantile(0.5, memmond_memory_available_ratio{{{J}}})"),
                ],
                {},
            ),
        ],
    ),
    (
        "Services and OOM kills",
        [
            (
                "The 10 services using the most memory (any host)",
                "bytes",
                "ranking_desc",
                [("", f"topk(10, memmond_cgroup_memory_bytes{{{J}, {SERVICES}}})")],
                {},
            ),
            (
                "Memory per service, summed over hosts (top 10)",
                "bytes",
                "lines",
                [("{{unit}}", f"topk(10, sum by (unit) (memmond_cgroup_memory_bytes{{{J}, {SERVICES}}}))")],
                {},
            ),
            (
                "OOM kills across the fleet, by host (kernel count)",
                "short",
                "bars",
                [
                    ("all hosts", f"sum(increase(memmond_vmstat_oom_kill_total{{{J}}}[$__rate_interval]))"),
                    (
                        "{{instance}}",
                        "topk(10, sum by (instance) "
                        f"(increase(memmond_vmstat_oom_kill_total{{{J}}}[$__rate_interval])) > 0)",
                    ),
                ],
                {},
            ),
            (
                "OOM kills by service (from the kernel log)",
                "short",
                "bars",
                [("{{unit}}", f"sum by (unit) (increase(memmond_oom_kills_total{{{J}}}[$__rate_interval])) > 0")],
                {},
            ),
        ],
    ),
]


def _repeat(variable: str) -> dict[str, Any]:
    """A panel drawn once per value of `variable`, two to a row."""
    return {"repeat": variable, "repeatDirection": "h", "maxPerRow": 2}


# The memory subsystems beyond /proc/meminfo: one collapsed row each, whose panels repeat over a hidden
# variable listing what the selected hosts have (NUMA nodes, huge page sizes, zram devices, hosts with
# KSM running, zswap in use or a ZFS ARC). A host without the feature has no value: no empty panel.
SUBSYSTEMS: list[tuple[str, list[Panel]]] = [
    (
        "NUMA nodes",
        [
            (
                "Node $numa_node: memory",
                "bytes",
                "lines",
                [
                    ("{{instance}} available", f'memmond_numa_node_available_bytes{{{I}, node=~"$numa_node"}}'),
                    (
                        "{{instance}} {{field}}",
                        f'memmond_numa_node_memory_bytes{{{I}, node=~"$numa_node", '
                        'field=~"mem_free|file_pages|anon_pages"}',
                    ),
                ],
                _repeat("numa_node"),
            ),
            (
                "Allocations that missed their node",
                "pps",
                "lines",
                [
                    (
                        "{{instance}} node {{node}} {{kind}}",
                        f'rate(memmond_numa_pages_total{{{I}, kind=~"miss|foreign"}}[$__rate_interval])',
                    )
                ],
                {},
            ),
        ],
    ),
    (
        "Huge pages",
        [
            (
                "Huge pages of $hugepage_size bytes",
                "short",
                "lines",
                [("{{instance}} {{state}}", f'memmond_hugepages_pages{{{I}, size=~"$hugepage_size"}}')],
                _repeat("hugepage_size"),
            ),
        ],
    ),
    (
        "Compression: zram and zswap",
        [
            (
                "zram $zram_device",
                "bytes",
                "lines",
                [
                    ("{{instance}} stored", f'memmond_zram_original_bytes{{{I}, device=~"$zram_device"}}'),
                    ("{{instance}} memory used", f'memmond_zram_memory_used_bytes{{{I}, device=~"$zram_device"}}'),
                ],
                _repeat("zram_device"),
            ),
            (
                "zswap compression (stored per byte of pool)",
                "x",
                "lines",
                [("{{instance}}", 'memmond_zswap_compression_ratio{__SELECTOR__, instance=~"$zswap_instance"}')],
                _repeat("zswap_instance"),
            ),
        ],
    ),
    (
        "KSM",
        [
            (
                "Memory KSM saves on $ksm_instance",
                "bytes",
                "lines",
                [("saved", 'memmond_ksm_saved_bytes{__SELECTOR__, instance=~"$ksm_instance"}')],
                _repeat("ksm_instance"),
            ),
        ],
    ),
    (
        "ZFS ARC",
        [
            (
                "ARC on $arc_instance",
                "bytes",
                "lines",
                [
                    ("size", 'memmond_zfs_arc_size_bytes{__SELECTOR__, instance=~"$arc_instance"}'),
                    ("target", 'memmond_zfs_arc_target_size_bytes{__SELECTOR__, instance=~"$arc_instance"}'),
                    ("minimum", 'memmond_zfs_arc_min_size_bytes{__SELECTOR__, instance=~"$arc_instance"}'),
                    (
                        "available (ARC-aware)",
                        'memmond_memory_available_bytes{__SELECTOR__, instance=~"$arc_instance"}',
                    ),
                    ("MemAvailable", 'memmond_meminfo_mem_available_bytes{__SELECTOR__, instance=~"$arc_instance"}'),
                ],
                _repeat("arc_instance"),
            ),
        ],
    ),
]

# name -> (metric, label): the hidden variables the SUBSYSTEMS panels repeat over
FEATURE_VARIABLES = {
    "numa_node": ("memmond_numa_node_available_bytes", "node"),
    "hugepage_size": ("memmond_hugepages_pages", "size"),
    "zram_device": ("memmond_zram_info", "device"),
    "zswap_instance": ("memmond_zswap_compression_ratio", "instance"),
    "ksm_instance": ("memmond_ksm_saved_bytes", "instance"),
    "arc_instance": ("memmond_zfs_arc_size_bytes", "instance"),
}


def _query_variable(
    name: str, query: str, label: str | None = None, all_value: str | None = None, hide: int = 0, sort: int = 1
) -> dict[str, Any]:
    """A multi-value query variable with an "All" option; `hide` 2 for the hidden feature variables."""
    return {
        "name": name,
        **({"label": label} if label else {}),
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "current": {},
        "hide": hide,
        "includeAll": True,
        **({"allValue": all_value} if all_value else {}),
        "multi": True,
        "refresh": 2,
        "sort": sort,
        "regex": "",
        "options": [],
    }


def _feature_variable(name: str, metric: str, label: str) -> dict[str, Any]:
    query = f"label_values({metric}{{{I}}}, {label})"
    return _query_variable(name, query, hide=2, sort=3)


def _legend(legend: str, per_host: bool) -> str:
    """On the host dashboard every series names its host: with several instances selected, "available"
    alone would be several lines no one can tell apart. The fleet dashboard's series are fleet-wide."""
    if not per_host or not legend or "{{instance}}" in legend:
        return legend
    return "{{instance}} " + legend


def _targets(queries: list[tuple[str, str]], per_host: bool) -> list[dict[str, Any]]:
    return [
        {
            "datasource": DS,
            "expr": expr,
            "legendFormat": _legend(legend, per_host),
            "refId": chr(ord("A") + index),
            **({"format": "table", "instant": True} if not legend else {}),
        }
        for index, (legend, expr) in enumerate(queries)
    ]


def _panel(panel_id: int, x: int, y: int, panel: Panel, per_host: bool) -> dict[str, Any]:
    title, unit, kind, queries, extra = panel
    common = {
        "id": panel_id,
        "title": title,
        "datasource": DS,
        "targets": _targets(queries, per_host),
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
    }
    if kind == "state":
        mappings = [
            {"type": "value", "options": {str(i): {"text": name, "color": color, "index": i}}}
            for i, (name, color) in enumerate(
                (("low", "green"), ("medium", "yellow"), ("high", "orange"), ("critical", "red"))
            )
        ]
        return {
            **common,
            "type": "state-timeline",
            "fieldConfig": {"defaults": {"mappings": mappings, "unit": unit}, "overrides": []},
            "options": {"showValue": "never", "mergeValues": True},
            **extra,
        }
    if kind in ("table", "ranking", "ranking_desc"):
        # a table lists labels; a ranking also shows the value, sorted (ascending: the worst hosts first)
        hidden = {"Time": True, "__name__": True, **({"Value": True} if kind == "table" else {})}
        ranking = {"sortBy": [{"displayName": "Value", "desc": kind == "ranking_desc"}]} if kind != "table" else {}
        return {
            **common,
            "type": "table",
            "fieldConfig": {"defaults": {"unit": unit} if kind != "table" else {}, "overrides": []},
            "options": {"showHeader": True, **ranking},
            "transformations": [{"id": "organize", "options": {"excludeByName": hidden}}],
            **extra,
        }
    custom: dict[str, Any] = {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if kind == "stacked":  # one panel a host: stacking several hosts into one pile means nothing
        custom.update({"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 60})
        extra = {**_repeat("instance"), **extra}
        common["title"] = f"{title} on $instance"
    if kind == "stacked_total":  # parts of a fleet-wide total (hosts per level): stacking is the point
        custom.update({"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 60})
    if kind == "bars":
        custom.update({"drawStyle": "bars", "fillOpacity": 80})
    return {
        **common,
        "type": "timeseries",
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
        **extra,
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


JOB_VARIABLE = _query_variable("job", f"label_values(memmond_build_info{{{SELECTOR}}}, job)", "Job", all_value=".*")
HOST_VARIABLES = [
    _datasource_variable(),
    JOB_VARIABLE,
    _query_variable("instance", f'label_values(memmond_build_info{{{SELECTOR}, job=~"$job"}}, instance)', "Instance"),
    _query_variable("cgroup", CGROUP_VALUES, "Cgroup", all_value=".*"),
    *(_feature_variable(name, metric, label) for name, (metric, label) in FEATURE_VARIABLES.items()),
]
FLEET_ANNOTATIONS = [
    {
        "name": "OOM kills",
        "datasource": DS,
        "enable": True,
        "iconColor": "red",
        "expr": f"sum by (instance, unit) (increase(memmond_oom_kills_total{{{J}}}[2m])) > 0",
        "step": "60s",
        "titleFormat": "OOM kill in {{unit}} on {{instance}}",
        "textFormat": "the victim: curl http://{{instance}}/api/v1/oom",
        "tagKeys": "unit,instance",
    },
]
# Each dashboard links to the others (the tag): from a fleet table to a host's dashboard and back.
LINKS = [{"title": "memmond", "type": "dashboards", "tags": ["memmond"], "asDropdown": False, "keepTime": True}]


def dashboard(
    uid: str,
    title: str,
    rows: list[tuple[str, list[Panel]]],
    collapsed_rows: list[tuple[str, list[Panel]]] = (),
    per_host: bool = True,
) -> dict[str, Any]:
    """Open rows first, then the collapsed ones: a collapsed row carries its panels inside it, as Grafana
    stores them, and shows them when opened. `per_host`: the host dashboard (instance and cgroup
    variables, a legend naming the host); otherwise the fleet's."""
    panels: list[dict[str, Any]] = []
    y = 0
    panel_id = 1
    for row_title, row_panels, collapsed in [(t, p, False) for t, p in rows] + [
        (t, p, True) for t, p in collapsed_rows
    ]:
        row: dict[str, Any] = {
            "id": panel_id,
            "type": "row",
            "title": row_title,
            "collapsed": collapsed,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            "panels": [],
        }
        panels.append(row)
        panel_id += 1
        y += 1
        inside = row["panels"] if collapsed else panels
        for index, panel in enumerate(row_panels):
            inside.append(_panel(panel_id, (index % 2) * 12, y + (index // 2) * 8, panel, per_host))
            panel_id += 1
        if not collapsed:
            y += ((len(row_panels) + 1) // 2) * 8
    return {
        "uid": uid,
        "title": title,
        "description": "memmond: Linux memory, page cache, pressure and rules (https://prometheus.io exporter)",
        "tags": ["memmond", "memory", "linux"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "annotations": {"list": ANNOTATIONS if per_host else FLEET_ANNOTATIONS},
        "links": LINKS,
        "templating": {"list": HOST_VARIABLES if per_host else [_datasource_variable(), JOB_VARIABLE]},
        "panels": panels,
    }


def _template(board: dict[str, Any]) -> str:
    """The dashboard as a jsonnet function of the selector. JSON is jsonnet; each string holding the
    selector becomes a concatenation ("...{" + selector + ", job=...}"), which jsonnet evaluates at C
    speed and escapes on output (a textual replace in jsonnet 0.18's standard library took 20 s)."""
    text = json.dumps(board, indent=2).replace(SELECTOR, '" + selector + "')
    return (
        "// Generated by grafana/build_dashboards.py (mixin/render.sh): edit the panels there.\n"
        f"function(selector)\n{text}\n"
    )


def build() -> dict[str, str]:
    """file name -> the dashboard's template (mixin/dashboards/<uid>.libsonnet)."""
    boards = [
        dashboard("memmond-overview", "memmond overview", OVERVIEW, SUBSYSTEMS),
        dashboard("memmond-fleet", "memmond fleet", FLEET, per_host=False),
    ]
    return {f"{board['uid']}.libsonnet": _template(board) for board in boards}


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in build().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
