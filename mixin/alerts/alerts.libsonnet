// Prometheus alerting rules: every expression is scoped by _config.selector, every runbook_url is
// _config.runbookURL plus the README section of that alert.
local selector = import '../lib/selector.libsonnet';

// 0.1 -> "10": ratios are configured as fractions and written as percentages
local percent(ratio) = std.toString(std.floor(ratio * 100 + 0.5));

// '5m' -> '5 minutes', for the descriptions; a compound duration ('1h30m') is left as it is
local spoken(duration) =
  local number = std.substr(duration, 0, std.length(duration) - 1);
  local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[duration[std.length(duration) - 1]];
  local plural = if number == '1' then '' else 's';
  if std.length(std.findSubstr('m', number) + std.findSubstr('h', number)) > 0 then duration
  else '%s %s%s' % [number, unit, plural];

// "It went up in the last 5 minutes" for a counter the kernel keeps for its whole life (OOM kills since
// boot, or since the cgroup was made): now above its own minimum over the window. Not increase(): a store
// whose increase() counts a new series' first value from zero (VictoriaMetrics does) would page for every
// kill since boot whenever a host joins, memmond restarts or a cgroup is first seen; the minimum over the
// window is the same on every store.
local rose(series) = '%s - min_over_time(%s[5m]) > 0' % [series, series];

{
  prometheusAlerts+:: {
    // numbers as a person writes them (0.1, not 0.10000000000000001), the selector checked
    local c = {
      [k]: if std.isNumber($._config[k]) then '%g' % $._config[k] else $._config[k]
      for k in std.objectFields($._config)
    } + { selector: selector.check($._config.selector) },
    local said = { [k]: spoken(c[k]) for k in std.objectFields(c) if std.endsWith(k, 'For') },
    local alert(name, expr, severity, summary, description, pending=null) = {
      alert: name,
      expr: expr,
      [if pending != null then 'for']: pending,
      labels: if severity != null then { severity: severity } else { forwarded_by: 'memmond' },
      annotations: {
        summary: summary,
        description: description,
        runbook_url: '%s#runbook-%s' % [c.runbookURL, std.asciiLower(name)],
      },
    },

    groups+: [
      {
        name: 'memmond',
        rules: [
          alert(
            'MemmondDown', 'up{%(selector)s} == 0' % c, 'critical',
            'memmond on {{ $labels.instance }} is down',
            'Prometheus has not been able to scrape memmond on {{ $labels.instance }} for %(memmondDownFor)s: no memory metrics from this host.' % said,
            c.memmondDownFor,
          ),
          alert(
            'MemmondSamplingStalled', 'up{%(selector)s} == 1 and rate(memmond_samples_total{%(selector)s}[2m]) == 0' % c, 'warning',
            'memmond on {{ $labels.instance }} answers but takes no samples',
            'memmond_samples_total on {{ $labels.instance }} has not moved for 3 minutes: its metrics are stale.',
            '1m',
          ),
          alert(
            'MemoryPressureHigh', 'memmond_pressure_level{%(selector)s, level="high"} == 1' % c, 'warning',
            'Memory pressure high on {{ $labels.instance }}',
            '{{ $labels.instance }} has been at memory pressure level high for %(pressureHighFor)s (little memory available, or PSI full above 10 %%).' % said,
            c.pressureHighFor,
          ),
          alert(
            'MemoryPressureCritical', 'memmond_pressure_level{%(selector)s, level="critical"} == 1' % c, 'critical',
            'Memory pressure critical on {{ $labels.instance }}',
            '{{ $labels.instance }} has been at memory pressure level critical for %(pressureCriticalFor)s: 10 %% or less of memory is available.' % said,
            c.pressureCriticalFor,
          ),
          alert(
            'MemoryAvailableLow',
            'memmond_mem_available_min_bytes{%(selector)s} / memmond_meminfo_mem_total_bytes{%(selector)s} < %(availableLowRatio)s' % c,
            'warning',
            'Available memory low on {{ $labels.instance }}',
            'MemAvailable on {{ $labels.instance }} dipped to {{ $value | humanizePercentage }} of memory (window minimum) and has stayed below %s %% for %s.'
            % [percent($._config.availableLowRatio), said.availableLowFor],
            c.availableLowFor,
          ),
          alert(
            'OOMKillDetected', rose('memmond_vmstat_oom_kill_total{%(selector)s}' % c), 'critical',
            'The OOM killer killed processes on {{ $labels.instance }}',
            'The kernel OOM killer killed at least one process on {{ $labels.instance }} in the last 5 minutes; journalctl -k shows which.',
          ),
          alert(
            'PageCacheThrashing',
            'memmond_page_cache_thrashing_per_second{%(selector)s} > %(pageCacheThrashingPagesPerSecond)s' % c, 'warning',
            'Page cache thrashing on {{ $labels.instance }}',
            '{{ $value | humanize }} pages/s of the working set are evicted and read back on {{ $labels.instance }}: the page cache is too small for it.',
            c.pageCacheThrashingFor,
          ),
          alert(
            'DirtyPagesHigh',
            'memmond_meminfo_dirty_bytes{%(selector)s} / memmond_meminfo_mem_total_bytes{%(selector)s} > %(dirtyRatio)s' % c,
            'warning',
            'Many dirty pages on {{ $labels.instance }}',
            '{{ $value | humanizePercentage }} of memory on {{ $labels.instance }} has been dirty (not yet written back) for %(dirtyFor)s.' % said,
            c.dirtyFor,
          ),
          alert(
            'SwapStorm',
            'rate(memmond_vmstat_pswpin_total{%(selector)s}[5m]) + rate(memmond_vmstat_pswpout_total{%(selector)s}[5m]) > %(swapPagesPerSecond)s' % c,
            'warning',
            'Heavy swapping on {{ $labels.instance }}',
            '{{ $value | humanize }} pages/s swapped in and out on {{ $labels.instance }} for %(swapFor)s.' % said,
            c.swapFor,
          ),
          // Only memmond's warning and critical rules page; info rules (high_cache_growth fires on an
          // ordinary file copy) are recorded below. `for` rides out a rule that fires for one scrape.
          alert(
            'MemmondRuleFiring', 'memmond_rule_active{%(selector)s, severity=~"warning|critical"} == 1' % c, null,
            'memmond rule {{ $labels.rule }} firing on {{ $labels.instance }}',
            "memmond's {{ $labels.severity }} rule {{ $labels.rule }} fires on {{ $labels.instance }}; journalctl -u memmond MEMMOND_RULE={{ $labels.rule }} has its events.",
            c.ruleFiringFor,
          ),
          alert(
            'MemmondConfigReloadFailed', 'memmond_config_last_reload_successful{%(selector)s} == 0' % c, 'warning',
            'memmond on {{ $labels.instance }} rejected its new config',
            'The last reload on {{ $labels.instance }} failed; memmond runs the previous config. journalctl -u memmond MEMMOND_EVENT=reload_failed says why.',
            '5m',
          ),
          alert(
            'MemmondSourceDown',
            'memmond_source_up{%(selector)s} == 0 and memmond_source_unavailable{%(selector)s} == 0' % c, 'warning',
            'memmond cannot read {{ $labels.source }} on {{ $labels.instance }}',
            'The {{ $labels.source }} source has failed on {{ $labels.instance }} for 5 minutes (memmond_source_errors_total rises); its metrics are missing.',
            '5m',
          ),
          alert(
            'MemmondCgroupNearMemoryLimit',
            'memmond_cgroup_memory_bytes{%(selector)s} / on (instance, job, cgroup, unit) memmond_cgroup_memory_limit_bytes{%(selector)s, kind="max"} > %(cgroupLimitRatio)s' % c,
            'warning',
            '{{ $labels.cgroup }} on {{ $labels.instance }} is near its memory limit',
            '{{ $labels.cgroup }} (unit {{ $labels.unit }}) on {{ $labels.instance }} uses {{ $value | humanizePercentage }} of its memory limit (MemoryMax=); past it the kernel reclaims its cache, then OOM-kills inside it.',
            '1m',
          ),
          alert(
            'MemmondCgroupOOMKill',
            // memmond's count from the kernel log starts at memmond's start and a cgroup's series appears
            // with its first kill (at 1): a series new in the window is a kill, as is one that rose; and
            // the kernel's own per-cgroup count (memory.events) rising
            local kills = 'memmond_oom_kills_total{%(selector)s}' % c;
            local events = 'memmond_cgroup_memory_events_total{%(selector)s, event="oom_kill"}' % c;
            '(%s) or (%s unless %s offset 5m) or (%s)' % [rose(kills), kills, kills, rose(events)],
            'warning',
            'OOM kill in {{ $labels.cgroup }} on {{ $labels.instance }}',
            'The kernel OOM-killed a process of {{ $labels.cgroup }} (unit {{ $labels.unit }}) on {{ $labels.instance }} in the last 5 minutes. curl {{ $labels.instance }}/api/v1/oom names the victim.',
          ),
          alert(
            'MemmondCgroupMemoryStall',
            'rate(memmond_cgroup_pressure_stalled_seconds_total{%(selector)s, kind="some"}[1m]) > %(cgroupStallRatio)s' % c,
            'warning',
            '{{ $labels.cgroup }} on {{ $labels.instance }} stalls on memory',
            'Tasks of {{ $labels.cgroup }} (unit {{ $labels.unit }}) on {{ $labels.instance }} have waited for memory {{ $value | humanizePercentage }} of the time for a minute (PSI some).',
            '1m',
          ),
        ],
      },
    ],
  },

  // Recording rules, apart from the alerts as in every mixin (kube-prometheus loads both)
  prometheusRules+:: {
    local c = { selector: selector.check($._config.selector) },
    groups+: [
      {
        name: 'memmond-recording',
        rules: [
          // memmond's active info-level rules, one series each: a dashboard panel or an annotation, never a page
          {
            record: 'instance_rule:memmond_rule_active:info',
            expr: 'memmond_rule_active{%(selector)s, severity="info"} == 1' % c,
          },
        ],
      },
    ],
  },
}
