"""memmond with a real Prometheus and a real Alertmanager on loopback (Debian packages prometheus and
prometheus-alertmanager): scraped, every dashboard query answered, and a memmond rule travelling as the
MemmondRuleFiring alert through Prometheus into Alertmanager."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RunningDaemon, free_port
from fleetstack import wait
from test_grafana import OOM_RECORD, RICH_HOST, _exprs, one_oom_kill, service_args, substitute

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _short_for(tmp_path: Path) -> Path:
    """The shipped alert rules with MemmondRuleFiring's `for: 1m` cut to 2s, so the alert reaches
    Alertmanager within the test's seconds; promtool's unit tests prove the real `for:`."""
    rules = yaml.safe_load((ROOT / "config" / "prometheus" / "memmond-alerts.yml").read_text())
    (alert,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "MemmondRuleFiring"]
    alert["for"] = "2s"
    path = tmp_path / "memmond-alerts.yml"
    path.write_text(yaml.safe_dump(rules))
    return path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    assert PROMETHEUS and ALERTMANAGER, (
        "prometheus and prometheus-alertmanager are missing: packaging/dev-setup.sh --test installs them"
    )
    watched = tmp_path / "watched.bin"
    watched.write_bytes(os.urandom(256 * 1024))
    (tmp_path / "me.pid").write_text(str(os.getpid()))
    config = tmp_path / "memmond.yaml"
    config.write_text(
        f"interval: 250ms\nextremes_window: 10s\nwatch:\n  interval: 1s\n  files: [{watched}]\n  processes:\n"
        f"    - name: tester\n      pidfile: {tmp_path / 'me.pid'}\n"
        "rules:\n  - name: always\n    expr: mem_total > 0\n    severity: warning\n    labels: {team: infra}\n"
        # a memory event once Prometheus scrapes (15 s of history first), for the dashboard's annotation
        "  - {name: recorded, expr: 'delta(mem_total, 15s) == 0', severity: info, record: true}\n"
        "events: {fast_duration: 1s}\n"
    )
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {"receiver": "nowhere", "group_wait": "1s", "group_interval": "1s"},
                "receivers": [{"name": "nowhere"}],
            }
        )
    )
    # a second host, with every subsystem beyond meminfo in use, for the dashboard's collapsed rows
    rich_config = tmp_path / "rich.yaml"
    rich_config.write_text("interval: 250ms\nsystem: {interval: 1s}\nbuiltin_rules: {enabled: false}\n")
    with (
        one_oom_kill(tmp_path) as kmsg,
        RunningDaemon("--config", str(config), *service_args(kmsg)) as daemon,
        RunningDaemon(*RICH_HOST, "--config", str(rich_config), "--kmsg", "none", "--journal", "none") as rich,
        contextlib.ExitStack() as files,
    ):
        (tmp_path / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(_short_for(tmp_path))],
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                    "scrape_configs": [
                        {
                            "job_name": "memmond",
                            "static_configs": [{"targets": [f"127.0.0.1:{daemon.port}", f"127.0.0.1:{rich.port}"]}],
                        }
                    ],
                }
            )
        )
        logs = tmp_path / "logs"
        logs.mkdir()
        procs = [
            subprocess.Popen(
                [
                    ALERTMANAGER,
                    f"--config.file={tmp_path / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],  # no gossip port
                stdout=subprocess.DEVNULL,
                stderr=files.enter_context(open(logs / "alertmanager.log", "w")),
            ),
            subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=files.enter_context(open(logs / "prometheus.log", "w")),
            ),
        ]
        try:
            yield {
                "prometheus": f"http://127.0.0.1:{prom_port}",
                "alertmanager": f"http://127.0.0.1:{am_port}",
                "procs": procs,
                "daemon": daemon,
                "logs": logs,
                "kmsg": kmsg,
            }
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    answer = _get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_memmond_and_every_dashboard_query_has_data(stack: dict[str, Any]) -> None:
    prom, procs = stack["prometheus"], stack["procs"]
    wait("up{job=memmond} == 1", lambda: _query(prom, 'up{job="memmond"} == 1'), 30, procs)
    # rate() over 1m and the efficiency gauges need a few scrapes behind them
    wait("a few scrapes", lambda: _query(prom, "count_over_time(memmond_samples_total[1m]) >= 4"), 30, procs)
    # a second OOM kill while Prometheus watches, for the OOM annotation (the first came before any scrape)
    writer = os.open(stack["kmsg"], os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(writer, OOM_RECORD.replace(b"3,1,100,-", b"3,2,200,-").replace(b"pid=811", b"pid=812"))
    finally:
        os.close(writer)
    for expr in _exprs():
        query = substitute(expr)
        result = wait(f"data for {query}", lambda q=query: _query(prom, q), 20, procs)
        assert result, query


def test_a_memmond_rule_reaches_alertmanager_as_memmond_rule_firing(stack: dict[str, Any]) -> None:
    prom, am, procs = stack["prometheus"], stack["alertmanager"], stack["procs"]

    def firing_in_prometheus() -> list[dict[str, Any]]:
        alerts = _get(f"{prom}/api/v1/alerts")["data"]["alerts"]
        return [
            a
            for a in alerts
            if a["labels"].get("alertname") == "MemmondRuleFiring"
            and a["labels"].get("rule") == "always"
            and a["state"] == "firing"
        ]

    (alert,) = wait("MemmondRuleFiring firing in Prometheus", firing_in_prometheus, 30, procs)
    assert alert["labels"]["severity"] == "warning" and alert["labels"]["team"] == "infra"
    assert alert["annotations"]["summary"].startswith("memmond rule always firing on 127.0.0.1:")

    def in_alertmanager() -> list[dict[str, Any]]:
        return [
            a
            for a in _get(f"{am}/api/v2/alerts")
            if a["labels"].get("alertname") == "MemmondRuleFiring" and a["labels"].get("rule") == "always"
        ]

    (received,) = wait("MemmondRuleFiring in Alertmanager", in_alertmanager, 30, procs)
    assert received["status"]["state"] == "active"
    assert received["labels"]["forwarded_by"] == "memmond"
    assert received["annotations"]["runbook_url"].endswith("#runbook-memmondrulefiring")
    # No false alarms on a healthy machine: MemmondDown and MemmondSamplingStalled stay silent.
    names = {a["labels"]["alertname"] for a in _get(f"{prom}/api/v1/alerts")["data"]["alerts"]}
    assert not names & {"MemmondDown", "MemmondSamplingStalled", "MemmondSourceDown"}
