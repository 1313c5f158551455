"""What a fleet needs from an exporter on hosts that already run node_exporter: groups of series switched
off (`exposition.families`), the `name[]=` filter prometheus_client offers, gzip only when asked for."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from conftest import RunningDaemon, run_memmond


def test_families_switched_off_leave_the_rest_and_the_rules_alone(tmp_path: Path) -> None:
    config = tmp_path / "memmond.yaml"
    config.write_text(
        "interval: 100ms\nexposition: {families: {meminfo: false, vmstat: false}}\n"
        "rules:\n  - {name: always, expr: mem_total > 0 and pgfault > 0}\n"
    )
    with RunningDaemon("--config", str(config)) as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 3, 5, "three samples")
        metrics = daemon.metrics()
    assert not [name for name in metrics if name.startswith(("memmond_meminfo_", "memmond_vmstat_"))]
    assert any(name.startswith("memmond_pressure_stall_seconds_total") for name in metrics)
    assert metrics["memmond_memory_available_bytes"] > 0  # derived values stay
    assert metrics['memmond_rule_active{rule="always",severity="warning"}'] == 1  # rules read every field


def test_a_misspelt_family_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "memmond.yaml"
    config.write_text("exposition:\n  families: {meminf: false, vmstat: no}\n")
    result = run_memmond("check-config", str(config))
    assert result.returncode == 1
    assert f"{config}:2:14: exposition.families.meminf: unknown key (did you mean 'meminfo'?)" in result.stderr


def test_name_filter_serves_only_the_named_series_and_gzip_only_when_asked() -> None:
    with RunningDaemon() as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 1, 5, "a sample")
        query = "/metrics?name[]=memmond_meminfo_mem_total_bytes&name[]=memmond_samples_total"
        status, headers, body = daemon.get(query)
        assert status == 200 and "content-encoding" not in headers
        lines = [line for line in body.decode().splitlines() if not line.startswith("#")]
        assert [line.split()[0] for line in lines] == ["memmond_meminfo_mem_total_bytes", "memmond_samples_total"]
        _, headers, zipped = daemon.get(query, {"Accept-Encoding": "gzip"})
        assert headers["content-encoding"] == "gzip" and gzip.decompress(zipped) == body
        _, headers, _ = daemon.get("/metrics", {"Accept-Encoding": "gzip;q=0, identity"})
        assert "content-encoding" not in headers
        status, _, empty = daemon.get("/metrics?name[]=memmond_no_such_metric")
        assert status == 200 and empty == b""
    promtool = shutil.which("promtool")
    assert promtool
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert lint.returncode == 0, lint
