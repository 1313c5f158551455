"""`memmond` alone (= `memmond show --short`): free -h's answer, pressure, the largest services and
processes, and the rules a running daemon has firing."""

from __future__ import annotations

from pathlib import Path

import golden
from conftest import FIXTURES, RunningDaemon, run_memmond

TABLE = FIXTURES / "processes-6.18-x86_64"


def test_short_view_golden_output_at_80_columns() -> None:
    out = golden.check(
        "short",
        "--procfs", str(TABLE), "show", "--short", "--cgroupfs", str(FIXTURES / "cgroup-v2-systemd"),
        "--url", "127.0.0.1:1",  # nothing listens on port 1
    )  # fmt: skip
    assert "no daemon at 127.0.0.1:" in out


def test_memmond_alone_is_the_short_view_and_fits_a_screen() -> None:
    result = run_memmond("--procfs", str(TABLE), env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["total", "used", "free", "shared", "buff/cache", "available"]
    assert lines[2].startswith("Mem:") and lines[3].startswith("Swap:")
    assert len(lines) <= 12 and max(map(len, lines)) <= 80


def test_short_view_names_the_rules_the_daemon_has_firing(tmp_path: Path) -> None:
    config = tmp_path / "memmond.yaml"
    config.write_text(
        "interval: 100ms\nrules:\n"
        "  - {name: always, expr: mem_total > 0, severity: critical, summary: 'total {{ mem_total | bytes }}'}\n"
    )
    with RunningDaemon("--config", str(config)) as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 3, 5, "three samples")
        result = run_memmond("show", "--short", "--url", daemon.url, env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    (rules,) = [line for line in result.stdout.splitlines() if line.startswith("Rules")]
    assert rules.split(None, 1)[1].startswith("always (critical, ") and ": total " in rules
