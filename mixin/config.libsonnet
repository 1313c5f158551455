// What an importer may change. Override with
//   (import 'memmond/mixin.libsonnet') + { _config+:: { selector: 'job="node", cluster="eu"' } }
{
  _config+:: {
    // Label matchers selecting memmond's targets, as they go inside { } without the braces. Every alert
    // and every dashboard query carries them, so memmond's series are told apart from other jobs'.
    selector: 'job="memmond"',

    // Each alert's runbook_url is this, then '#runbook-<alert name in lower case>': the README's
    // "Runbook: <Alert>" sections. Point it at wherever your copy of the docs is published.
    runbookURL: 'https://github.com/memmond/memmond/blob/main/README.md',

    // Thresholds. A ratio is a fraction (0.10 is 10 %); a duration is a PromQL duration.
    memmondDownFor: '2m',
    pressureHighFor: '5m',
    pressureCriticalFor: '1m',
    availableLowRatio: 0.10,
    availableLowFor: '5m',
    pageCacheThrashingPagesPerSecond: 1000,
    pageCacheThrashingFor: '10m',
    dirtyRatio: 0.05,
    dirtyFor: '15m',
    swapPagesPerSecond: 1000,
    swapFor: '5m',
    ruleFiringFor: '1m',
    cgroupLimitRatio: 0.9,
    cgroupStallRatio: 0.1,

    // Dashboards
    dashboardTags: ['memmond', 'memory', 'linux'],
    dashboardRefresh: '30s',
  },
}
