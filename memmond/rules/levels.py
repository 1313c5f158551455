"""Memory pressure levels: low, medium, high, critical.

The level follows the available ratio (MemAvailable / MemTotal) with separate enter and exit thresholds,
so a ratio hovering at a boundary does not flap, and PSI can raise it further: a machine with plenty of
reclaimable cache can still be stalling on memory, and PSI is what says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from memmond import format as fmt
from memmond.config import DEFAULT_LEVELS, LEVELS, LevelConfig, PsiFloor
from memmond.model.snapshot import Snapshot


@dataclass(frozen=True)
class LevelChange:
    previous: str
    level: str
    reason: str


class PressureTracker:
    """Keeps the level between samples; feed it every snapshot. The reason is worded when someone reads it
    (a change, `memmond watch`), not at every sample: formatting it was a sixth of the tracker's time."""

    def __init__(self, config: LevelConfig = DEFAULT_LEVELS) -> None:
        self.config = config
        self.level = "low"
        self._ratio_index = 0  # level from the available ratio alone, with its own hysteresis
        self._active_floors: set[int] = set()
        # what decided the latest level: (snapshot, ratio, the ratio threshold crossed (enter) or None, the
        # deciding PSI floor and its value or None)
        self._decided: tuple[Snapshot, float, float | None, tuple[PsiFloor, float] | None] | None = None

    def reconfigure(self, config: LevelConfig) -> None:
        """A reload keeps the current level; the new thresholds apply from the next sample."""
        self.config = config
        self._active_floors = {i for i in self._active_floors if i < len(config.psi)}

    def update(self, snap: Snapshot) -> LevelChange | None:
        ratio = snap.derived().get("memory_available_ratio")
        if ratio is None:
            return None  # no MemTotal or meminfo down: keep the level rather than guess
        thresholds = self.config.thresholds
        worse = 0
        for index, threshold in enumerate(thresholds, start=1):
            if ratio <= threshold.enter:
                worse = index
        self._ratio_index = max(self._ratio_index, worse)
        while self._ratio_index > 0 and ratio > thresholds[self._ratio_index - 1].exit:
            self._ratio_index -= 1
        index = self._ratio_index
        crossed = thresholds[index - 1].enter if index > 0 else None
        deciding: tuple[PsiFloor, float] | None = None
        for position, floor in enumerate(self.config.psi):
            line = snap.pressure.line(floor.kind) if snap.pressure is not None else None
            if line is None:
                self._active_floors.discard(position)
                continue
            value = line.avg(floor.window)
            if value > floor.above:
                self._active_floors.add(position)
            elif value < floor.below:
                self._active_floors.discard(position)
            floor_index = LEVELS.index(floor.level)
            if position in self._active_floors and floor_index > index:
                index = floor_index
                deciding = (floor, value)
        self._decided = (snap, ratio, crossed, deciding)
        level = LEVELS[index]
        if level == self.level:
            return None
        change = LevelChange(self.level, level, self.reason)
        self.level = level
        return change

    @property
    def reason(self) -> str:
        if self._decided is None:
            return "no sample yet"
        snap, ratio, crossed, deciding = self._decided
        if deciding is not None:
            floor, value = deciding
            return (
                f"PSI {floor.kind} avg{floor.window} {fmt.percent(value, 2)} "
                f"(above {fmt.percent(floor.above)} sets at least {floor.level})"
            )
        estimated = " (estimated: no MemAvailable)" if snap.mem_available_estimated else ""
        if snap.arc_shrinkable:
            estimated += (
                f" (ZFS: MemAvailable {fmt.iec(snap.mem_available or 0)} + {fmt.iec(snap.arc_shrinkable)} of ARC "
                "above its minimum)"
            )
        reason = f"available {fmt.percent(ratio)} of memory{estimated}"
        if crossed is not None:
            reason += f", at or below {fmt.percent(crossed)}"
        return reason


def level_of(snap: Snapshot, config: LevelConfig = DEFAULT_LEVELS) -> tuple[str, str]:
    """The level of a single snapshot with no history (for `memmond show`): (level, reason)."""
    tracker = PressureTracker(config)
    tracker.update(snap)
    return tracker.level, tracker.reason
