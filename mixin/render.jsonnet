// What mixin/render.sh renders, with the mixin's default _config unless given another:
//   jsonnet --tla-str what=alerts mixin/render.jsonnet            the rule file (alerts, then recording
//     rules) as JSON; render.sh writes it as YAML (jsonnet 0.18's std.manifestYamlDoc takes 5 s, its
//     C++ JSON writer 0.4)
//   jsonnet -m <repo> --tla-str what=dashboards mixin/render.jsonnet   grafana/dashboards/*.json
//   --tla-code config='{selector: "job=\"x\""}' renders with another config.
function(what, config={})
  local mixin = (import 'mixin.libsonnet') + { _config+:: config };
  if what == 'alerts' then { groups: mixin.prometheusAlerts.groups + mixin.prometheusRules.groups }
  else if what == 'dashboards' then {
    ['grafana/dashboards/' + name]: mixin.grafanaDashboards[name]
    for name in std.objectFields(mixin.grafanaDashboards)
  }
  else error 'what: alerts or dashboards, not ' + what
