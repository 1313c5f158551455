#!/usr/bin/env bash
# Renders the mixin into the files the repo ships, with the mixin's default _config:
#   1. the dashboards' panels (grafana/build_dashboards.py) into the templates mixin/dashboards/*.libsonnet;
#   2. the mixin (jsonnet, Debian package jsonnet) into config/prometheus/memmond-alerts.yml and
#      grafana/dashboards/*.json.
#
#   mixin/render.sh           both steps, writing into the repo (tests fail when a committed file differs)
#   mixin/render.sh OUTDIR    step 2 only, into OUTDIR (the test compares that with the repo)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
command -v jsonnet >/dev/null || { echo "render.sh: jsonnet missing: apt-get install jsonnet" >&2; exit 1; }
out=${1:-}
if [ -z "$out" ]; then
    out=$repo
    "$python" "$repo/grafana/build_dashboards.py"
fi
mkdir -p "$out/config/prometheus" "$out/grafana/dashboards"
jsonnet --tla-str what=alerts "$repo/mixin/render.jsonnet" | "$python" -c '
import json, sys, yaml
rules = json.load(sys.stdin)
order = ["alert", "record", "expr", "for", "labels", "annotations"]  # as people write a rule, not a-z
for group in rules["groups"]:
    group["rules"] = [dict(sorted(rule.items(), key=lambda kv: order.index(kv[0]))) for rule in group["rules"]]
sys.stdout.write(
    "# Prometheus alerting rules for memmond (load with rule_files: in prometheus.yml; route with Alertmanager).\n"
    "# Generated from mixin/alerts/alerts.libsonnet by mixin/render.sh with the default _config (selector\n"
    "# job=\"memmond\", runbooks in the README on the project page): set the mixin'"'"'s _config, not this file.\n"
    + yaml.safe_dump(rules, sort_keys=False, width=1000, allow_unicode=True)
)' >"$out/config/prometheus/memmond-alerts.yml"
jsonnet -m "$out" --tla-str what=dashboards "$repo/mixin/render.jsonnet" >/dev/null
