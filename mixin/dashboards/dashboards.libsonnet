// Grafana dashboards. Their panels are written in grafana/build_dashboards.py, which writes the
// templates beside this file: functions of the selector. Here the mixin's _config goes in.
local selector = import '../lib/selector.libsonnet';

local templates = {
  'memmond-overview.json': import 'memmond-overview.libsonnet',
  'memmond-fleet.json': import 'memmond-fleet.libsonnet',
};

{
  grafanaDashboards+:: {
    local c = $._config,
    [name]: templates[name](selector.check(c.selector)) + {
      tags: c.dashboardTags,
      refresh: c.dashboardRefresh,
    }
    for name in std.objectFields(templates)
  },
}
