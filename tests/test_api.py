"""The Python library API and the four examples, run as the README says."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CURRENT, OLD_3_10, free_port

import memmond
from memmond.config import ConfigError
from memmond.rules.expr import ExpressionError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_memory_stats_and_pressure_from_a_captured_tree() -> None:
    stats = memmond.MemoryStats.current(str(CURRENT))
    meminfo = {
        line.split(":")[0]: int(line.split()[1]) * 1024 for line in (CURRENT / "meminfo").read_text().splitlines()
    }
    assert stats.mem_total == meminfo["MemTotal"]
    assert stats.page_cache_size() == meminfo["Cached"] + meminfo["Buffers"]
    assert stats.field("SecPageTables") == meminfo["SecPageTables"]
    old = memmond.MemoryStats.current(str(OLD_3_10))
    assert old.mem_available == old.mem_free + old.buffers + old.cached  # the pre-3.14 estimate
    pressure = memmond.MemoryPressure.current(str(CURRENT))
    assert pressure.pressure_level == "low" and 0.9 < pressure.available_ratio <= 1


def test_snapshots_and_diffs() -> None:
    before = memmond.take_snapshot()
    after = memmond.take_snapshot()
    line = memmond.compare(before, after).summary_line()
    assert line.startswith("over ") and "MemAvailable" in line


def test_continuous_monitor_samples_in_the_background() -> None:
    monitor = memmond.ContinuousMonitor(max_snapshots=5)
    with monitor.running(0.05):
        time.sleep(0.5)
    snapshots = monitor.snapshots()
    assert len(snapshots) == 5  # bounded
    assert [s.monotonic for s in snapshots] == sorted(s.monotonic for s in snapshots)
    trend = monitor.get_trend_analysis(3)
    assert trend is not None and trend.sample_count == 3
    assert memmond.ContinuousMonitor().get_trend_analysis(10) is None


def test_event_monitor_takes_callables_expressions_and_yaml_alike() -> None:
    seen_previous = []

    def condition(stats: memmond.MemoryStats, previous: memmond.MemoryStats | None) -> bool:
        seen_previous.append(previous is not None)
        return stats.mem_total > 0

    monitor = memmond.EventMonitor()
    monitor.add_common_conditions()
    assert "low_memory" in monitor.conditions
    monitor.add_condition("callable", condition)
    monitor.add_rule("expression", "mem_total > 0", severity="info")
    monitor.add_rules_yaml("rules:\n  - name: from_yaml\n    expr: mem_total > 0\n    for: 1h\n")
    events = monitor.check_conditions()
    assert {e.name for e in events} == {"callable", "expression"}  # from_yaml is pending for an hour
    assert monitor.check_conditions() == []  # already firing: no new event
    assert seen_previous == [False, True]
    assert set(monitor.firing()) == {"callable", "expression"}
    with pytest.raises(ConfigError, match="unknown name 'mem_totl'"):
        monitor.add_rules_yaml("rules:\n  - name: bad\n    expr: mem_totl > 0\n")
    with pytest.raises(ExpressionError, match=r"unknown function __import__\(\)"):
        monitor.add_rule("bad", "__import__('os')")


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("basic.py", [], "Memory Pressure:"),
        ("file_io.py", ["--size-mib", "4"], "File write increased page cache"),
        ("continuous.py", ["--seconds", "1", "--interval", "0.1"], "Memory trend over"),
        ("events.py", ["--checks", "2", "--every", "0.1"], "Memory event triggered: some_memory_in_use"),
    ],
)
def test_examples_run_as_the_readme_says(script: str, args: list[str], expect: str) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout


def test_the_daemon_path_does_not_load_the_library_layer() -> None:
    """RSS matters for a daemon on every host: `memmond run` must not import io-impact, ctypes or the API."""
    code = (
        "import sys, memmond.cli.main, memmond.serve.daemon; print(sorted(m for m in ('ctypes', 'decimal', "
        "'memmond.api', 'memmond.model.io_impact', 'memmond.cli.live', 'rich') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result


def test_the_running_daemon_loads_neither_prometheus_client_nor_ssl() -> None:
    """The 25 MB RSS budget: a daemon that has sampled and answered a scrape (gzip, OpenMetrics) has not
    imported prometheus_client (9 MB with http.server and urllib), ssl or hashlib (libcrypto, only with a
    web config), asyncio, importlib.resources' tempfile/zipfile, or the CLI's terminal library rich."""
    port = free_port()
    code = f"""
import os, signal, socket, sys, threading, time
def scrape_then_stop():
    time.sleep(1.5)
    with socket.create_connection(("127.0.0.1", {port})) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nAccept-Encoding: gzip\\r\\n"
                     b"Accept: application/openmetrics-text\\r\\nConnection: close\\r\\n\\r\\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:100]
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=scrape_then_stop, daemon=True).start()
from memmond.cli.main import main
sys.argv = ["memmond", "run", "--listen", "127.0.0.1:{port}", "--log-target", "stderr"]
assert main() == 0
heavy = ("prometheus_client", "ssl", "hashlib", "http.server", "asyncio", "tempfile", "zipfile", "ctypes", "rich")
print(sorted(m for m in heavy if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result
