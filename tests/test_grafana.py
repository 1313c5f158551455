"""The Grafana dashboard: generated JSON in step with its source, portable datasource references, valid
PromQL, and only metrics memmond really exposes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from conftest import RunningDaemon

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "grafana"))
import build_dashboards  # noqa: E402

DASHBOARD = ROOT / "grafana" / "dashboards" / "memmond-overview.json"
FLEET_DASHBOARD = ROOT / "grafana" / "dashboards" / "memmond-fleet.json"


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def _exprs(dashboard: Path = DASHBOARD) -> list[str]:
    return [node["expr"] for node in _walk(json.loads(dashboard.read_text())) if "expr" in node]


def substitute(expr: str, instance: str = ".*") -> str:
    """The template variables as Grafana would fill them in (a repeated panel's variable: all values)."""
    expr = expr.replace("$__rate_interval", "1m").replace("$cgroup", ".*").replace("$job", ".*")
    for name in build_dashboards.FEATURE_VARIABLES:
        expr = expr.replace(f"${name}", ".*")
    return expr.replace("$instance", instance)


CGROUP_FIXTURE = ROOT / "tests" / "fixtures" / "cgroup-v2-systemd"
# A host with every subsystem beyond meminfo in use: two NUMA nodes, huge page pools, KSM, zram, zswap, ZFS.
RICH_HOST = (
    "--procfs", str(ROOT / "tests" / "fixtures" / "zfs-arc-host"),
    "--sysfs", str(ROOT / "tests" / "fixtures" / "sysfs-two-nodes"),
)  # fmt: skip
OOM_RECORD = (
    b"3,1,100,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
    b"oom_memcg=/system.slice/nginx.service,task_memcg=/system.slice/nginx.service,task=nginx,pid=811,uid=33\n"
)


@contextlib.contextmanager
def one_oom_kill(tmp_path: Path) -> Iterator[Path]:
    """A kernel log (a FIFO) holding one OOM kill, for a daemon to read with --kmsg."""
    fifo = tmp_path / "kmsg"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)
    try:
        os.write(writer, OOM_RECORD)
        yield fifo
    finally:
        os.close(writer)


def service_args(kmsg: Path) -> list[str]:
    """What a daemon needs for every Services panel to have data: cgroups with limits, and a kill."""
    return ["--cgroupfs", str(CGROUP_FIXTURE), "--kmsg", str(kmsg)]


def test_committed_templates_are_what_the_generator_writes() -> None:
    for name, text in build_dashboards.build().items():
        assert (ROOT / "mixin" / "dashboards" / name).read_text() == text, f"{name} is stale: run mixin/render.sh"


def test_schema_variables_and_no_hard_coded_datasource() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 36 and board["uid"] == "memmond-overview"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query" and variables["job"]["type"] == "query"
    # many hosts: every legend names the host, stacked panels repeat per host instead of piling them up
    targets = [node for node in _walk(board) if "expr" in node and "legendFormat" in node]
    assert all("{{instance}}" in t["legendFormat"] for t in targets if t["legendFormat"]), targets
    stacked = [
        p for p in _walk(board) if p.get("fieldConfig", {}).get("defaults", {}).get("custom", {}).get("stacking")
    ]
    assert stacked and all(p.get("repeat") == "instance" for p in stacked)
    assert all('job=~"$job"' in node["expr"] for node in targets if "$instance" in node["expr"])
    references = [node["datasource"] for node in _walk(board) if "datasource" in node]
    assert references and all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in references)
    titles = {panel["title"].removesuffix(" on $instance") for panel in board["panels"]}
    for wanted in (
        "Memory composition",
        "Available, with its window minimum",
        "Pressure level",
        "Memory pressure stall (PSI, avg10)",
        "Dirty and writeback",
        "Active vs inactive file pages",
        "Refaults and thrashing",
        "Major page faults",
        "Rule events",
        "Firing rules",
        "Watched files in the page cache",
        "Watched processes",
        "Top 10 cgroups by memory",
        "Share of the memory limit (MemoryMax=)",
        "Memory stall by cgroup (PSI some)",
        "OOM kills by cgroup",
        "Swap in use and paging",
        "Sample duration (p99) and skipped samples",
        "Sources down and their errors",
        "Series per scrape",
    ):
        assert wanted in titles, wanted


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: packaging/dev-setup.sh --test installs the Debian package prometheus"
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": substitute(expr)}
                    for index, expr in enumerate(_exprs(DASHBOARD) + _exprs(FLEET_DASHBOARD))
                ],
            }
        ]
    }
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_files_parse() -> None:
    dashboards = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/memmond.yaml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "/opt/memmond/share/grafana/dashboards"
    datasources = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasources["datasources"][0]["type"] == "prometheus"


def test_every_metric_a_panel_uses_is_exposed(tmp_path: Path) -> None:
    """A daemon configured as a user of every panel would be (a watched file and process, a firing rule)
    exposes every metric the dashboard names. The real-Prometheus test runs the queries themselves."""
    watched = tmp_path / "watched.bin"
    watched.write_bytes(os.urandom(65536))
    config = tmp_path / "m.yaml"
    config.write_text(
        f"interval: 200ms\nwatch:\n  interval: 1s\n  files: [{watched}]\n  processes:\n    - name: me\n"
        f"      pidfile: {tmp_path / 'me.pid'}\nrules:\n  - name: always\n    expr: mem_total > 0\n"
    )
    (tmp_path / "me.pid").write_text(str(os.getpid()))
    with one_oom_kill(tmp_path) as kmsg, RunningDaemon("--config", str(config), *service_args(kmsg)) as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 3, 5, "three samples")
        daemon.wait_for(lambda: "memmond_oom_kills_total" in str(daemon.metrics()), 5, "the kill counted")
        exposed = {name.split("{")[0] for name in daemon.metrics()}
    # the subsystems beyond meminfo, as a two-node ZFS host with every one of them in use has them
    with RunningDaemon(*RICH_HOST, "--config", str(config)) as rich:
        rich.wait_for(lambda: "memmond_zfs_arc_size_bytes" in rich.metrics(), 10, "the subsystems")
        exposed |= {name.split("{")[0] for name in rich.metrics()}
    exposed |= {name[: -len("_total")] for name in exposed if name.endswith("_total")}
    used = {name for expr in _exprs() for name in re.findall(r"\bmemmond_[a-z0-9_]+", expr)}
    assert used and used <= exposed, sorted(used - exposed)


def test_the_fleet_dashboard_shows_the_fleet_without_a_line_per_host() -> None:
    board = json.loads(FLEET_DASHBOARD.read_text())
    assert board["uid"] == "memmond-fleet"
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "job"}
    titles = {panel["title"] for panel in board["panels"]}
    for wanted in (
        "Hosts per pressure level",
        "The 10 hosts with the least memory available",
        "The 10 services using the most memory (any host)",
        "OOM kills across the fleet, by host (kernel count)",
        "Hosts down or stale",
        "Which hosts are down or stale now",
    ):
        assert wanted in titles, wanted
    # a thousand hosts must not become a thousand lines: every per-host query is aggregated or top-k'd
    for expr in _exprs(FLEET_DASHBOARD):
        assert 'job=~"$job"' in expr and "$instance" not in expr
        assert re.match(r"(count|sum|min|quantile|topk|bottomk)\b", expr) or " == 0 or " in expr, expr
