"""The built-in rule pack: the seed's four "common conditions", then what operators of node_exporter
(node-mixin), oomd and Netdata alert on. On by default; each rule can be overridden or disabled by name
under `builtin_rules.overrides` in the config.

A built-in rule whose inputs this kernel lacks (no PSI, no /proc/sys/vm) or whose window is longer than
the configured history is skipped with a note, never an error: the pack must load on any machine.
"""

from __future__ import annotations

from memmond import format as fmt

# Thresholds in one place, so the README table and the rules cannot disagree.
LEAK_MIN_SLOPE = "64KiB"  # per second: ~3.75 MiB a minute, steadily
LEAK_MIN_GROWTH = "2%"  # of MemTotal over the window


def builtin_rules(history_seconds: float) -> list[dict[str, str]]:
    """Rule definitions as they would be written in the config. The leak rule looks over the whole
    history, so its window depends on history_size x interval."""
    span = f"{max(1, int(history_seconds))}s"
    span_text = fmt.duration(history_seconds)
    return [
        # -- the seed's four -----------------------------------------------------------------------------
        {
            "name": "low_memory",
            "expr": "memory_available < 10% * mem_total",
            "clear": "memory_available > 12% * mem_total",
            "for": "30s",
            "severity": "warning",
            "summary": "Available memory low: {{ memory_available | bytes }} of {{ mem_total | bytes }} "
            "({{ memory_available_ratio | percent }}; the kernel's MemAvailable {{ mem_available | bytes }})",
        },
        {
            "name": "high_cache_growth",
            "expr": "delta(page_cache, 10s) > 100MiB",
            "keep_firing_for": "1m",
            "severity": "info",
            "summary": "Page cache grew by {{ value | bytes }} in 10 s, now {{ page_cache | bytes }}",
        },
        {
            "name": "high_dirty_pages",
            "expr": "dirty > 5% * mem_total",
            "clear": "dirty < 4% * mem_total",
            "for": "30s",
            "severity": "warning",
            "summary": "{{ dirty | bytes }} of dirty pages ({{ mem_total | bytes }} total) waiting for writeback",
        },
        {
            "name": "memory_pressure_relief",
            "expr": "delta(mem_available, 10s) > 50MiB",
            "keep_firing_for": "1m",
            "severity": "info",
            "summary": "Available memory grew by {{ value | bytes }} in 10 s, now {{ mem_available | bytes }}",
        },
        # -- what operators rely on ----------------------------------------------------------------------
        {
            "name": "critical_low_memory",
            "expr": "memory_available < 5% * mem_total",
            "clear": "memory_available > 7% * mem_total",
            "for": "15s",
            "severity": "critical",
            "summary": "Available memory critical: {{ memory_available | bytes }} of {{ mem_total | bytes }} "
            "({{ memory_available_ratio | percent }}; the kernel's MemAvailable {{ mem_available | bytes }}); "
            "the OOM killer is near",
        },
        {
            # Two NUMA nodes or more: a process bound to (or favouring) a node can be starved there, and
            # reclaim or swap on it, while the machine as a whole has plenty: MemAvailable never shows it.
            "name": "numa_node_exhausted",
            "expr": "numa_node_available_min_ratio < 5% and numa_node_available_max_ratio > 25%",
            "clear": "numa_node_available_min_ratio > 8%",
            "for": "5m",
            "severity": "warning",
            "summary": "A NUMA node is nearly full ({{ numa_node_available_min_ratio | percent }} available) while "
            "another has {{ numa_node_available_max_ratio | percent }}: allocations spill to remote nodes",
        },
        {
            # The kernel keeps one of vm.dirty_bytes / vm.dirty_ratio at 0, so max() picks the one in use;
            # its dirtyable memory is close to MemAvailable.
            "name": "dirty_near_limit",
            "expr": "dirty + writeback > 80% * max(vm_dirty_bytes, vm_dirty_ratio / 100 * mem_available)",
            "clear": "dirty + writeback < 60% * max(vm_dirty_bytes, vm_dirty_ratio / 100 * mem_available)",
            "for": "30s",
            "severity": "warning",
            "summary": "Dirty + writeback {{ dirty_writeback | bytes }} near the kernel's dirty limit "
            "(vm.dirty_ratio {{ vm_dirty_ratio }} %, vm.dirty_bytes {{ vm_dirty_bytes | bytes }}): "
            "writers will be throttled",
        },
        {
            "name": "writeback_stuck",
            "expr": "min_over(writeback, 2m) > 0 and deriv(writeback, 2m) >= 0",
            "severity": "warning",
            "summary": "Writeback has not drained for 2 minutes ({{ writeback | bytes }} in flight): "
            "a slow or stuck device",
        },
        {
            "name": "heavy_swapping",
            "expr": "rate(pswpin + pswpout, 1m) > 1000",
            "for": "2m",
            "severity": "warning",
            "summary": "Swapping {{ value | number }} pages/s in and out",
        },
        {
            "name": "psi_some_stall",
            "expr": "psi_some_avg10 > 10%",
            "clear": "psi_some_avg10 < 5%",
            "for": "30s",
            "severity": "warning",
            "summary": "Tasks stalled on memory {{ psi_some_avg10 | percent }} of the last 10 s (PSI some)",
        },
        {
            "name": "psi_full_stall",
            "expr": "psi_full_avg10 > 5%",
            "clear": "psi_full_avg10 < 2%",
            "for": "30s",
            "severity": "critical",
            "summary": "All tasks stalled on memory {{ psi_full_avg10 | percent }} of the last 10 s (PSI full)",
        },
        {
            "name": "oom_kill",
            "expr": "rate(oom_kill) > 0",
            "keep_firing_for": "5m",
            "severity": "critical",
            "summary": "The kernel OOM killer killed a process ({{ oom_kill | number }} kills since boot)",
        },
        {
            "name": "page_cache_thrashing",
            "expr": "rate(workingset_restore_file, 1m) > 1000",
            "for": "2m",
            "severity": "warning",
            "summary": "Page cache thrashing: {{ value | number }} pages/s of the working set evicted and read "
            "back (workingset_restore_file)",
        },
        {
            "name": "unreclaimable_slab_growth",
            "expr": "deriv(sunreclaim, 10m) > 16KiB and sunreclaim > 5% * mem_total",
            "severity": "warning",
            "summary": "Unreclaimable slab {{ sunreclaim | bytes }} growing {{ value | bytes }}/s for 10 "
            "minutes: a possible kernel memory leak (see /proc/slabinfo)",
        },
        {
            "name": "overcommit_limit",
            "expr": "vm_overcommit_memory == 2 and committed_as > 95% * commit_limit",
            "severity": "warning",
            "summary": "Committed memory {{ committed_as | bytes }} near CommitLimit {{ commit_limit | bytes }} "
            "with vm.overcommit_memory=2: allocations will fail",
        },
        {
            "name": "major_fault_storm",
            "expr": "rate(pgmajfault, 1m) > 500",
            "for": "2m",
            "severity": "warning",
            "summary": "{{ value | number }} major page faults/s (pages read from disk on access)",
        },
        {
            "name": "memory_leak_suspected",
            "expr": f"deriv(anon_pages + sunreclaim, {span}) > {LEAK_MIN_SLOPE} "
            f"and delta(anon_pages + sunreclaim, {span}) > {LEAK_MIN_GROWTH} * mem_total",
            "severity": "warning",
            "summary": "Anonymous + unreclaimable slab memory climbed steadily by {{ value | bytes }}/s over "
            f"the last {span_text}: a leak is likely",
        },
        # -- per cgroup (for_each: cgroup): which service, not just the machine ---------------------------
        {
            "name": "cgroup_near_limit",
            "for_each": "cgroup",
            "expr": "cgroup_memory > 90% * cgroup_memory_max",
            "clear": "cgroup_memory < 85% * cgroup_memory_max",
            "for": "1m",
            "severity": "warning",
            "summary": "{{ unit }} ({{ cgroup }}) uses {{ cgroup_memory | bytes }} of its "
            "{{ cgroup_memory_max | bytes }} limit; past it the kernel reclaims its cache, then OOM-kills inside it",
        },
        {
            "name": "cgroup_oom_kill",
            "for_each": "cgroup",
            "expr": "rate(cgroup_oom_kill) > 0",
            "keep_firing_for": "5m",
            "severity": "critical",
            "summary": "The OOM killer killed a process in {{ unit }} ({{ cgroup }}): {{ cgroup_oom_kill | number }} "
            "kills so far",
        },
        {
            "name": "cgroup_memory_stall",
            "for_each": "cgroup",
            "expr": "cgroup_psi_some_avg10 > 10%",
            "clear": "cgroup_psi_some_avg10 < 5%",
            "for": "1m",
            "severity": "warning",
            "summary": "Tasks of {{ unit }} ({{ cgroup }}) stalled on memory "
            "{{ cgroup_psi_some_avg10 | percent }} of the last 10 s (PSI some)",
        },
    ]


def markdown_table(history_seconds: float = 1000.0) -> str:
    """The README's table of built-in rules, generated so it cannot drift from the pack."""
    lines = ["| rule | fires when | for | resolves | severity |", "| --- | --- | --- | --- | --- |"]
    # A per-cgroup rule says so in its first column: one state, one event, per cgroup.
    for rule in builtin_rules(history_seconds):
        resolves = (
            f"`{rule['clear']}`"
            if "clear" in rule
            else (f"false for {rule['keep_firing_for']}" if "keep_firing_for" in rule else "when false")
        )
        expr = rule["expr"].replace("|", "\\|")
        name = f"`{rule['name']}` (each cgroup)" if rule.get("for_each") == "cgroup" else f"`{rule['name']}`"
        lines.append(f"| {name} | `{expr}` | {rule.get('for', '-')} | {resolves} | {rule['severity']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    # `python -m memmond.rules.builtin` prints the README's built-in rule table (default history 1000 s).
    print(markdown_table())
