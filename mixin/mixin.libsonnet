// memmond's monitoring mixin: Prometheus alerts and Grafana dashboards for hosts running memmond.
//
//   local memmond = (import 'memmond/mixin.libsonnet') + { _config+:: { selector: 'job="node-memory"' } };
//   memmond.prometheusAlerts    // a rule file: { groups: [...] } of alerts
//   memmond.prometheusRules     // a rule file of recording rules
//   memmond.grafanaDashboards   // file name -> dashboard
//
// mixin/render.sh renders it with the defaults into config/prometheus/memmond-alerts.yml and
// grafana/dashboards/*.json, the files packages and provisioning use.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
