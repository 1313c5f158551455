"""Trend analysis over recent samples: how free, used, available, page cache, active and inactive file
pages and dirty memory moved, oldest to newest (the seed inverted the order; this does not).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memmond.model.snapshot import Snapshot

STABLE_WITHIN = 0.01  # a change within ±1 % of the initial value is "stable"

SERIES: dict[str, Callable[[Snapshot], float | None]] = {
    "free": lambda s: s.mem_field("MemFree"),
    "used": lambda s: s.derived().get("memory_used"),
    "available": lambda s: s.mem_available,
    "page_cache": lambda s: s.derived().get("page_cache"),
    "active_file": lambda s: s.mem_field("Active(file)"),
    "inactive_file": lambda s: s.mem_field("Inactive(file)"),
    "dirty": lambda s: s.mem_field("Dirty"),
}


@dataclass(frozen=True)
class SeriesTrend:
    initial: float
    final: float
    change: float
    change_percent: float | None  # None when the initial value is 0
    direction: str  # increasing, decreasing, stable
    min: float
    max: float
    mean: float
    slope_per_second: float
    volatility: float  # standard deviation of the step changes

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LevelChange:
    wall_time: float
    previous: str
    level: str


@dataclass(frozen=True)
class Trend:
    sample_count: int
    seconds: float
    start_wall_time: float
    end_wall_time: float
    series: dict[str, SeriesTrend]
    pressure_level_changes: tuple[LevelChange, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "sample_count": self.sample_count,
            "seconds": self.seconds,
            "start_wall_time": self.start_wall_time,
            "end_wall_time": self.end_wall_time,
            "series": {name: trend.to_dict() for name, trend in self.series.items()},
            "pressure_level_changes": [change.__dict__ for change in self.pressure_level_changes],
        }


def _slope(times: Sequence[float], values: Sequence[float]) -> float:
    n = len(times)
    mean_t = math.fsum(times) / n
    mean_v = math.fsum(values) / n
    var_t = math.fsum((t - mean_t) ** 2 for t in times)
    if var_t == 0:
        return 0.0
    return math.fsum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / var_t


def _pstdev(values: Sequence[float]) -> float:
    """Population standard deviation (statistics.pstdev would import decimal and fractions: 1 MB of RSS
    in a daemon that runs on every host)."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def series_trend(times: Sequence[float], values: Sequence[float]) -> SeriesTrend:
    initial, final = values[0], values[-1]
    change = final - initial
    percent = change / initial * 100 if initial else None
    if abs(change) <= STABLE_WITHIN * abs(initial):  # from 0, only no change at all is stable
        direction = "stable"
    else:
        direction = "increasing" if change > 0 else "decreasing"
    steps = [b - a for a, b in itertools.pairwise(values)]
    return SeriesTrend(
        initial=initial,
        final=final,
        change=change,
        change_percent=percent,
        direction=direction,
        min=min(values),
        max=max(values),
        mean=math.fsum(values) / len(values),
        slope_per_second=_slope(times, values),
        volatility=_pstdev(steps) if len(steps) > 1 else 0.0,
    )


def analyze(snapshots: Sequence[Snapshot], level_changes: Sequence[LevelChange] = ()) -> Trend:
    """Trend over `snapshots`, oldest first. Needs at least two samples."""
    if len(snapshots) < 2:
        raise ValueError(f"a trend needs at least 2 samples, got {len(snapshots)}")
    series = {}
    for name, get in SERIES.items():
        points = [(s.monotonic, get(s)) for s in snapshots]
        times = [t for t, v in points if v is not None]
        values = [float(v) for _, v in points if v is not None]
        if len(values) >= 2:
            series[name] = series_trend(times, values)
    first, last = snapshots[0], snapshots[-1]
    changes = tuple(c for c in level_changes if first.wall_time <= c.wall_time <= last.wall_time)
    return Trend(len(snapshots), last.monotonic - first.monotonic, first.wall_time, last.wall_time, series, changes)
