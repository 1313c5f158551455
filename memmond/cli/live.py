"""`memmond watch`: a live terminal view that needs no daemon. It samples, evaluates the configured rules
and the pressure level itself, and redraws a small screen: sparklines of available memory and page
cache, dirty and writeback, PSI, the level and the firing rules.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from memmond import format as fmt
from memmond.config import LevelConfig
from memmond.model import trend
from memmond.model.snapshot import Sampler, Snapshot
from memmond.rules.engine import FIRING, Engine
from memmond.rules.levels import PressureTracker
from memmond.rules.ruleset import Ruleset

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], min_span: float = 0.0) -> str:
    """One character per value from the smallest up. The height spans at least `min_span`: scaled between
    the extremes alone, a 0.1 % wobble of available memory filled the full height (the view passes 1 % of
    MemTotal)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = max(high - low, min_span)
    if span <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(len(_BARS) - 1, int((v - low) / span * len(_BARS)))] for v in values)


class LiveView:
    def __init__(self, sampler: Sampler, rules: Ruleset, levels: LevelConfig, interval: float, width: int = 60):
        self.sampler = sampler
        self.engine = Engine(rules.rules, rules.vocabulary)
        self.tracker = PressureTracker(levels)
        self.interval = interval
        self.history: deque[Snapshot] = deque(maxlen=max(width, 2))
        self.events: deque[str] = deque(maxlen=5)

    def step(self) -> str:
        snap = self.sampler.capture()
        self.history.append(snap)
        for transition in self.engine.evaluate(self.history, self.interval):
            if transition.state in (FIRING, "resolved"):
                stamp = time.strftime("%H:%M:%S", time.localtime(snap.wall_time))
                self.events.append(f"{stamp} {transition.rule.name} {transition.state}: {transition.summary}")
        self.tracker.update(snap)
        return self.render(snap)

    def _series(self, name: str) -> list[float]:
        get = trend.SERIES[name]
        return [float(v) for v in map(get, self.history) if v is not None]

    def render(self, snap: Snapshot) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snap.wall_time))
        lines = [f"memmond watch  {stamp}  every {fmt.duration(self.interval)}  (Ctrl-C to stop)", ""]
        lines.append(f"pressure level  {self.tracker.level}  ({self.tracker.reason})")
        for label, name in (("available", "available"), ("page cache", "page_cache")):
            values = self._series(name)
            if values:
                lines.append(
                    f"{label:<12}{fmt.iec(values[-1]):>11}  {sparkline(values, (snap.mem_total or 0) / 100)}  "
                    f"min {fmt.iec(min(values))}  max {fmt.iec(max(values))}"
                )
        dirty, writeback = snap.mem_field("Dirty"), snap.mem_field("Writeback")
        psi = ""
        if snap.pressure is not None and snap.pressure.some is not None:
            psi = f"   PSI some {fmt.percent(snap.pressure.some.avg10, 2)}"
            if snap.pressure.full is not None:
                psi += f" full {fmt.percent(snap.pressure.full.avg10, 2)}"
        lines.append(f"{'dirty':<12}{fmt.iec(dirty or 0):>11}   writeback {fmt.iec(writeback or 0)}{psi}")
        firing = [r for r in self.engine.rules if self.engine.states[r.name].state == FIRING]
        lines.append("")
        lines.append("firing rules: " + (", ".join(f"{r.name} ({r.severity})" for r in firing) or "none"))
        if self.events:
            lines += ["recent events:"] + [f"  {event}" for event in self.events]
        if snap.errors:
            lines.append("not read: " + "; ".join(f"{s}: {r}" for s, r in sorted(snap.errors.items())))
        return "\n".join(lines)
