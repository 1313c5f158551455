"""memmond watch without a daemon: frames, sparklines, rules firing live."""

from __future__ import annotations

from pathlib import Path

from conftest import OLD_3_10, run_memmond

from memmond.cli.live import sparkline


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([]) == ""
    assert sparkline([5, 5, 5]) == "▁▁▁"
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([10, 0]) == "█▁"


def test_a_tiny_change_stays_a_tiny_bar() -> None:
    """Seen: a 0.1 % change of available memory filled the sparkline's full height."""
    total = 16 * 1024**3
    available = [0.500 * total, 0.5005 * total, 0.501 * total]  # 0.1 % of memory
    assert sparkline(available, min_span=total / 100) == "▁▁▁"
    assert sparkline(available) == "▁▄█"  # scaled between the extremes alone
    assert sparkline([0.5 * total, 0.51 * total], min_span=total / 100) == "▁█"  # 1 %: full height


def test_watch_prints_frames_and_fires_configured_rules(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(
        "rules:\n  - name: always\n    expr: mem_total > 0\n    summary: 'total {{ mem_total | bytes }}'\n"
    )
    result = run_memmond("watch", "--interval", "0.1", "--count", "3", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("memmond watch ") == 3
    last = result.stdout.rsplit("memmond watch ", 1)[1]
    assert "pressure level  low" in last
    assert "available " in last and "page cache " in last
    assert "firing rules: always (warning)" in last
    assert "always firing: total " in last


def test_watch_on_an_old_kernel_tree() -> None:
    result = run_memmond("--procfs", str(OLD_3_10), "watch", "--interval", "0.1", "--count", "2")
    assert result.returncode == 0, result.stderr
    assert "estimated: no MemAvailable" in result.stdout
    assert "not read: pressure" in result.stdout
