"""Trend maths on synthetic histories, and the trend endpoint and command on a running daemon."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import pytest
from conftest import RunningDaemon, run_memmond

from memmond.model import trend
from memmond.model.snapshot import Snapshot
from memmond.sources.meminfo import MemInfo

MIB = 1024 * 1024


def history(available: list[float], dirty: list[float] | None = None) -> list[Snapshot]:
    dirty = dirty or [0.0] * len(available)
    return [
        Snapshot(
            float(t),
            1000.0 + t,
            "b",
            MemInfo(
                {
                    "MemTotal": 1024 * MIB,
                    "MemFree": int(a),
                    "MemAvailable": int(a),
                    "Buffers": 0,
                    "Cached": 0,
                    "Dirty": int(d),
                    "Active(file)": 0,
                    "Inactive(file)": 0,
                }
            ),
            None,
            None,
        )
        for t, (a, d) in enumerate(zip(available, dirty, strict=True))
    ]


def test_order_is_oldest_to_newest_and_direction_follows() -> None:
    result = trend.analyze(history([100 * MIB, 200 * MIB, 300 * MIB], dirty=[30 * MIB, 20 * MIB, 10 * MIB]))
    available, dirty = result.series["available"], result.series["dirty"]
    assert (available.initial, available.final) == (100 * MIB, 300 * MIB)  # not inverted
    assert available.direction == "increasing" and available.change == 200 * MIB
    assert available.change_percent == pytest.approx(200.0)
    assert dirty.direction == "decreasing" and dirty.slope_per_second == pytest.approx(-10 * MIB)
    assert result.series["used"].direction == "decreasing"
    assert result.sample_count == 3 and result.seconds == 2


def test_stable_within_one_percent_and_volatility() -> None:
    values = [100.0, 100.5, 99.6, 100.9]
    result = trend.analyze(history([v * MIB for v in values])).series["available"]
    assert result.direction == "stable"
    steps = [(b - a) * MIB for a, b in itertools.pairwise(values)]
    assert result.volatility == pytest.approx(statistics.pstdev(steps))
    assert result.min == pytest.approx(99.6 * MIB, rel=1e-6) and result.max == pytest.approx(100.9 * MIB, rel=1e-6)
    zero = trend.analyze(history([MIB, MIB], dirty=[0, 0])).series["dirty"]
    assert zero.direction == "stable" and zero.change_percent is None


def test_slope_is_least_squares() -> None:
    values = [0, 3, 1, 5, 4]
    result = trend.analyze(history([v * MIB for v in values])).series["available"]
    mean_t, mean_v = 2, sum(values) / 5
    expected = sum((t - mean_t) * (v - mean_v) for t, v in enumerate(values)) / 10
    assert result.slope_per_second == pytest.approx(expected * MIB)


def test_level_changes_within_the_window_only() -> None:
    changes = [trend.LevelChange(999.0, "low", "medium"), trend.LevelChange(1001.5, "medium", "high")]
    result = trend.analyze(history([MIB] * 4), changes)
    assert [c.level for c in result.pressure_level_changes] == ["high"]


def test_a_single_sample_is_not_a_trend() -> None:
    with pytest.raises(ValueError, match="at least 2 samples"):
        trend.analyze(history([MIB]))


def test_trend_endpoint_and_command(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("interval: 100ms\npressure:\n  levels:\n    medium: {enter: 99.9%, exit: 99.95%}\n")
    with RunningDaemon("--config", str(config)) as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 6, 5, "six samples")
        status, headers, body = daemon.get("/api/v1/trend?samples=5")
        assert status == 200 and headers["content-type"] == "application/json"
        doc = json.loads(body)
        assert doc["sample_count"] == 5 and set(doc["series"]) == set(trend.SERIES)
        assert doc["start_wall_time"] < doc["end_wall_time"]
        assert 0.3 < doc["seconds"] < 0.6
        everything = json.loads(daemon.get("/api/v1/trend?samples=100000")[2])
        assert [c["level"] for c in everything["pressure_level_changes"]] == ["medium"]
        assert daemon.get("/api/v1/trend?samples=1")[0] == 400
        assert daemon.get("/api/v1/trend?samples=lots")[0] == 400

        result = run_memmond("trend", "--url", daemon.url, "--samples", "5")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Trend over 5 samples") and "available" in result.stdout
        assert max(len(line) for line in result.stdout.splitlines()) <= 80  # was 130 columns
        assert result.stdout.splitlines()[1].split() == [
            "SERIES",
            "NOW",
            "CHANGE",
            "%",
            "DIRECTION",
            "SLOPE",
            "MIN",
            "MAX",
        ]
        bare = run_memmond("trend", "--url", f"127.0.0.1:{daemon.port}", "--samples", "5")  # no http://
        assert bare.returncode == 0 and bare.stdout.startswith("Trend over 5 samples"), bare.stderr
        as_json = json.loads(run_memmond("trend", "--url", daemon.url, "--json").stdout)
        assert as_json["requested_samples"] == 20
    refused = run_memmond("trend", "--url", daemon.url)
    assert refused.returncode == 1 and "cannot reach memmond" in refused.stderr
