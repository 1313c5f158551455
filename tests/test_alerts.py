"""The Prometheus alerting rules: promtool check and unit tests, and the runbook they link to."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "config" / "prometheus" / "memmond-alerts.yml"
UNIT_TESTS = ROOT / "tests" / "prometheus" / "memmond-alerts.test.yml"
PROMTOOL = shutil.which("promtool")
ALL_RULES = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
ALERTS = [rule for rule in ALL_RULES if "alert" in rule]


def _promtool() -> str:
    assert PROMTOOL, "promtool missing: packaging/dev-setup.sh --test installs the Debian package prometheus"
    return PROMTOOL


def test_promtool_check_rules_is_clean() -> None:
    result = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALL_RULES)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", str(UNIT_TESTS)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = [case for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    for alert in ALERTS:
        name = alert["alert"]
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), f"{name} never tested firing"
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), f"{name} never tested silent"


REQUIRED = [
    "MemmondDown",
    "MemmondSamplingStalled",
    "MemoryPressureHigh",
    "MemoryPressureCritical",
    "MemoryAvailableLow",
    "OOMKillDetected",
    "PageCacheThrashing",
    "DirtyPagesHigh",
    "SwapStorm",
    "MemmondRuleFiring",
    "MemmondCgroupNearMemoryLimit",
    "MemmondCgroupOOMKill",
    "MemmondCgroupMemoryStall",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_alerts_exist_with_annotations_and_a_runbook_section(name: str) -> None:
    (alert,) = [a for a in ALERTS if a["alert"] == name]
    annotations = alert["annotations"]
    assert annotations["summary"] and annotations["description"]
    anchor = annotations["runbook_url"].split("#", 1)[1]
    assert anchor == f"runbook-{name.lower()}"
    assert f"### Runbook: {name}\n" in (ROOT / "README.md").read_text()


def test_every_alert_links_to_a_runbook_section() -> None:
    readme = (ROOT / "README.md").read_text()
    headings = {f"runbook-{h.lower()}" for h in re.findall(r"^### Runbook: (\w+)$", readme, re.M)}
    for alert in ALERTS:
        assert alert["annotations"]["runbook_url"].split("#", 1)[1] in headings, alert["alert"]


def test_only_warning_and_critical_memmond_rules_page_and_not_at_once() -> None:
    """Seen: the info-level high_cache_growth paged 3 times in 4 minutes of ordinary file copies."""
    (alert,) = [a for a in ALERTS if a["alert"] == "MemmondRuleFiring"]
    assert 'severity=~"warning|critical"' in alert["expr"] and alert["for"] == "1m"
    recorded = [r for r in ALL_RULES if "record" in r]
    assert [r["expr"] for r in recorded] == ['memmond_rule_active{job="memmond", severity="info"} == 1']
