"""The monitoring mixin (mixin/): rendered with the real jsonnet into the alert rules and dashboards the
repo ships, its _config (selector, runbook base URL, thresholds) reaching every expression, and a bad
selector failing the render with a clear error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_grafana import _walk

ROOT = Path(__file__).resolve().parent.parent
MIXIN = ROOT / "mixin"
RENDER = MIXIN / "render.jsonnet"
RENDERED = ["config/prometheus/memmond-alerts.yml", "grafana/dashboards/memmond-overview.json",
            "grafana/dashboards/memmond-fleet.json"]  # fmt: skip


def _jsonnet() -> str:
    found = shutil.which("jsonnet")
    assert found, "jsonnet missing: packaging/dev-setup.sh --test installs the Debian package jsonnet"
    return found


def render_alerts(config: dict) -> subprocess.CompletedProcess[str]:
    """The mixin's rule file, as jsonnet writes it (JSON), for a given _config."""
    return subprocess.run(
        [_jsonnet(), "--tla-str", "what=alerts", "--tla-code", f"config={json.dumps(config)}", str(RENDER)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def render_dashboards(out: Path, config: dict) -> subprocess.CompletedProcess[str]:
    (out / "grafana" / "dashboards").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [_jsonnet(), "-m", str(out), "--tla-str", "what=dashboards", "--tla-code", f"config={json.dumps(config)}",
         str(RENDER)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _rules(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [rule for group in json.loads(result.stdout)["groups"] for rule in group["rules"]]


def _dashboard_exprs(out: Path) -> list[str]:
    """Every panel's, annotation's and variable's query of the rendered dashboards."""
    return [
        node[key]
        for path in sorted(out.glob("grafana/dashboards/*.json"))
        for node in _walk(json.loads(path.read_text()))
        for key in ("expr", "definition")
        if isinstance(node.get(key), str)
    ]


def test_the_committed_files_are_what_the_mixin_renders(tmp_path: Path) -> None:
    result = subprocess.run([str(MIXIN / "render.sh"), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in RENDERED:
        assert (tmp_path / name).read_text() == (ROOT / name).read_text(), f"{name} is stale: run mixin/render.sh"


def test_the_mixin_object_has_what_every_mixin_has() -> None:
    fields = subprocess.run(
        [_jsonnet(), "-J", str(MIXIN), "-e", "std.objectFieldsAll(import 'mixin.libsonnet')"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert set(json.loads(fields)) >= {"_config", "prometheusAlerts", "prometheusRules", "grafanaDashboards"}


def test_the_selector_reaches_every_alert_and_dashboard_query(tmp_path: Path) -> None:
    selector = 'cluster="eu-1", job=~"memmond|mm"'
    rules = _rules(render_alerts({"selector": selector}))
    result = render_dashboards(tmp_path, {"selector": selector})
    assert result.returncode == 0, result.stderr
    exprs = [rule["expr"] for rule in rules] + _dashboard_exprs(tmp_path)
    assert len(exprs) > 80
    for expr in exprs:
        # every vector selector in every expression carries it: count the braces
        assert expr.count("{") == expr.count(selector) >= 1, expr
        assert 'job="memmond"' not in expr and "__SELECTOR__" not in expr
    promtool = shutil.which("promtool")
    assert promtool
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "memmond", "rules": rules}]}))
    check = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_runbook_base_url_and_thresholds_come_from_the_config() -> None:
    config = {"runbookURL": "https://wiki.example.org/memmond", "availableLowRatio": 0.2, "availableLowFor": "10m"}
    alerts = {rule["alert"]: rule for rule in _rules(render_alerts(config)) if "alert" in rule}
    assert all(
        a["annotations"]["runbook_url"] == f"https://wiki.example.org/memmond#runbook-{name.lower()}"
        for name, a in alerts.items()
    )
    low = alerts["MemoryAvailableLow"]
    assert low["expr"].endswith("< 0.2") and low["for"] == "10m"
    assert "stayed below 20 % for 10 minutes" in low["annotations"]["description"]


def test_the_default_runbook_links_are_https_readme_anchors() -> None:
    rules = yaml.safe_load((ROOT / RENDERED[0]).read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                url = rule["annotations"]["runbook_url"]
                assert re.fullmatch(r"https://github\.com/[\w-]+/memmond/blob/main/README\.md#runbook-[a-z]+", url)


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("", "is empty"),
        ('{job="memmond"}', 'character 1 ("{"): expected a label name'),
        ("job=memmond", 'character 5 ("m"): expected a "quoted" value'),
        ('job="memmond",', "ends inside a matcher"),
        ('job="memmond', "ends inside a matcher"),
        ('job=="memmond"', 'character 5 ("="): expected a "quoted" value'),
        ('job="a" cluster="b"', "expected a comma between matchers"),
        ('1job="a"', "expected a label name"),
        (42, "must be a string, not a number"),
    ],
)
def test_a_bad_selector_fails_the_render_naming_the_problem(tmp_path: Path, selector: object, problem: str) -> None:
    for result in (render_alerts({"selector": selector}), render_dashboards(tmp_path, {"selector": selector})):
        assert result.returncode != 0 and not result.stdout
        assert "memmond mixin: _config.selector" in result.stderr and problem in result.stderr, result.stderr
    assert not list(tmp_path.glob("grafana/dashboards/*.json"))
