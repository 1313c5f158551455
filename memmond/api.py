"""The library API: the seed crate's types in Python, on the same code the daemon runs.

    import memmond
    stats = memmond.MemoryStats.current()
    print(stats.mem_available, stats.page_cache_size())
    print(memmond.MemoryPressure.current().pressure_level)

Values are bytes (the seed used kB); `memmond.format` turns them into "1,234 KB" or "1.2 GiB".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from memmond import config as config_mod
from memmond.config import DEFAULT_LEVELS, LevelConfig
from memmond.model.diff import Diff
from memmond.model.history import History
from memmond.model.snapshot import Sampler, Snapshot
from memmond.model.trend import Trend, analyze
from memmond.rules import ruleset
from memmond.rules.engine import FIRING, Engine, Rule
from memmond.rules.expr import EvalContext, Expression, compile_expression
from memmond.rules.levels import level_of
from memmond.sources.procfs import ProcFS


def take_snapshot(procfs: ProcFS | str | None = None) -> Snapshot:
    """One sample of meminfo, vmstat and PSI (the seed's MemorySnapshot::new())."""
    return Sampler(_procfs(procfs)).capture()


def compare(before: Snapshot, after: Snapshot) -> Diff:
    """What changed between two snapshots (the seed's MemoryDiff::between); .summary_line() for one line."""
    return Diff(before, after)


def _procfs(procfs: ProcFS | str | None) -> ProcFS:
    if isinstance(procfs, ProcFS):
        return procfs
    return ProcFS(procfs or "/proc")


@dataclass(frozen=True)
class MemoryStats:
    """The /proc/meminfo values people ask for first, in bytes; every other field via .field(name)."""

    snapshot: Snapshot

    @classmethod
    def current(cls, procfs: ProcFS | str | None = None) -> MemoryStats:
        snap = take_snapshot(procfs)
        if snap.meminfo is None:
            raise OSError(f"cannot read meminfo: {snap.errors.get('meminfo')}")
        return cls(snap)

    def field(self, name: str) -> int:
        """Any meminfo field by its kernel name (0 when this kernel does not print it)."""
        return self.snapshot.mem_field(name) or 0

    @property
    def mem_total(self) -> int:
        return self.field("MemTotal")

    @property
    def mem_free(self) -> int:
        return self.field("MemFree")

    @property
    def mem_available(self) -> int:
        return self.snapshot.mem_available or 0

    @property
    def buffers(self) -> int:
        return self.field("Buffers")

    @property
    def cached(self) -> int:
        return self.field("Cached")

    @property
    def active_file(self) -> int:
        return self.field("Active(file)")

    @property
    def inactive_file(self) -> int:
        return self.field("Inactive(file)")

    @property
    def dirty(self) -> int:
        return self.field("Dirty")

    @property
    def writeback(self) -> int:
        return self.field("Writeback")

    @property
    def slab(self) -> int:
        return self.field("Slab")

    def page_cache_size(self) -> int:
        """Cached + Buffers (Shmem is inside Cached)."""
        return self.cached + self.buffers


@dataclass(frozen=True)
class MemoryPressure:
    pressure_level: str  # low, medium, high, critical
    available_ratio: float
    reason: str
    psi_some_avg10: float | None
    psi_full_avg10: float | None

    @classmethod
    def current(cls, procfs: ProcFS | str | None = None, levels: LevelConfig = DEFAULT_LEVELS) -> MemoryPressure:
        """The level of one sample with the default thresholds (no history, so no hysteresis)."""
        snap = take_snapshot(procfs)
        level, reason = level_of(snap, levels)
        psi = snap.pressure
        return cls(
            pressure_level=level,
            available_ratio=snap.derived().get("memory_available_ratio", 0.0),
            reason=reason,
            psi_some_avg10=psi.some.avg10 if psi is not None and psi.some is not None else None,
            psi_full_avg10=psi.full.avg10 if psi is not None and psi.full is not None else None,
        )


class ContinuousMonitor:
    """Samples in a background thread into a bounded history and analyses trends.

    with ContinuousMonitor(1000).running(0.5) as monitor:
        time.sleep(30)
    print(monitor.get_trend_analysis(20))
    """

    def __init__(self, max_snapshots: int = 1000, procfs: ProcFS | str | None = None) -> None:
        self._sampler = Sampler(_procfs(procfs))
        self._history = History(max_snapshots)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval: float) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval,), name="memmond-monitor", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        next_due = time.monotonic()
        while not self._stop.is_set():
            snap = self._sampler.capture()
            with self._lock:
                self._history.append(snap)
            next_due += interval
            self._stop.wait(max(0.0, next_due - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def running(self, interval: float) -> ContinuousMonitor:
        """For `with monitor.running(0.5): ...`: starts now, stops when the block ends."""
        self.start(interval)
        return self

    def __enter__(self) -> ContinuousMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshots(self) -> list[Snapshot]:
        """A copy of the history, oldest first."""
        with self._lock:
            return list(self._history)

    def get_trend_analysis(self, samples: int) -> Trend | None:
        """Trend over the newest `samples` snapshots, oldest to newest; None with fewer than two."""
        recent = self.snapshots()[-samples:]
        return analyze(recent) if len(recent) >= 2 else None


@dataclass(frozen=True)
class Event:
    name: str
    severity: str
    summary: str
    value: float | None

    def __str__(self) -> str:
        return f"{self.name} ({self.severity}): {self.summary}"


Condition = Callable[[MemoryStats, "MemoryStats | None"], bool]


class EventMonitor:
    """Conditions checked on demand: the built-in pack, Python callables and expression rules alike, all
    through the daemon's rule engine (so `for` and hysteresis work the same).

        monitor = EventMonitor()
        monitor.add_common_conditions()
        monitor.add_condition("high_page_cache", lambda stats, previous: stats.page_cache_size() > stats.mem_total / 2)
        for event in monitor.check_conditions():
            print(event)
    """

    def __init__(self, procfs: ProcFS | str | None = None, history_size: int = 1000) -> None:
        self._procfs = _procfs(procfs)
        self._sampler = Sampler(self._procfs)
        self._history = History(history_size)
        self._config = config_mod.Config(history_size=history_size, builtin_rules_enabled=False)
        self._ruleset = ruleset.load(self._config, self._procfs)
        self._engine = Engine([], self._ruleset.vocabulary)
        self._last_check: float | None = None

    @property
    def conditions(self) -> list[str]:
        return [rule.name for rule in self._engine.rules]

    def _add(self, rules: list[Rule]) -> None:
        self._engine.replace_rules([*self._engine.rules, *rules], self._ruleset.vocabulary)

    def add_common_conditions(self) -> None:
        """The built-in rule pack (low memory, dirty pages, PSI stalls, OOM kills, ...)."""
        builtin = ruleset.load(config_mod.Config(history_size=self._config.history_size), self._procfs)
        # the per-cgroup rules need the daemon's cgroup walk, which the library does not run
        self._add([r for r in builtin.rules if r.name not in self.conditions and not r.per_cgroup])

    def add_condition(self, name: str, condition: Condition, severity: str = "warning") -> None:
        """A Python callable taking (current stats, previous stats or None) and returning True to fire."""

        def evaluate(ctx: EvalContext) -> float:
            previous = MemoryStats(ctx.history[-2]) if len(ctx.history) > 1 else None
            return 1.0 if condition(MemoryStats(ctx.now), previous) else 0.0

        expression = Expression(f"<python callable {name}>", evaluate)
        self._add([Rule(name, expression, severity=severity, origin="python")])

    def add_rule(
        self, name: str, expr: str, *, for_seconds: float = 0.0, severity: str = "warning", clear: str | None = None
    ) -> None:
        """A rule in memmond's expression language, e.g. 'mem_available < 10% * mem_total'."""
        vocabulary = self._ruleset.vocabulary
        self._add(
            [
                Rule(
                    name,
                    compile_expression(expr, vocabulary),
                    severity=severity,
                    for_seconds=for_seconds,
                    clear=compile_expression(clear, vocabulary) if clear else None,
                    origin="python",
                )
            ]
        )

    def add_rules_yaml(self, text: str) -> None:
        """Rules as they are written in the config file's `rules:` list (a YAML document with `rules:`)."""
        parsed = config_mod.parse(text, "<rules>")
        rules = ruleset.build(
            config_mod.Config(rules=parsed.rules, builtin_rules_enabled=False, history_size=self._config.history_size),
            self._ruleset.vocabulary,
        )
        self._add(rules.rules)

    def check_conditions(self) -> list[Event]:
        """Take a sample and evaluate every condition; return the ones that started firing now."""
        snap = self._sampler.capture()
        self._history.append(snap)
        interval = snap.monotonic - self._last_check if self._last_check is not None else 1.0
        self._last_check = snap.monotonic
        events = []
        for transition in self._engine.evaluate(self._history.samples, max(interval, 1e-3)):
            if transition.state == FIRING:
                rule = transition.rule
                events.append(Event(rule.name, rule.severity, transition.summary, transition.value))
        return events

    def firing(self) -> list[str]:
        return [name for name, state in self._engine.states.items() if state.state == FIRING]
