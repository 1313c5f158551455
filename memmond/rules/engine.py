"""Rules as state machines: inactive -> pending -> firing -> resolved (-> inactive), like Prometheus.

- `for`: the expression must hold that long (pending) before the rule fires.
- `keep_firing_for`: once firing, the rule stays firing until the expression has been false that long.
- `clear`: once firing, the rule resolves only when this expression is true (hysteresis: fire below 10 %,
  clear above 15 %), whatever the firing expression says meanwhile.

A value the expression needs but cannot get (source down, too little history) counts as "false" for
firing and "not yet" for clearing: missing data never fires a rule and never resolves one early.

A rule with `for_each: cgroup` is one state machine per cgroup of the latest cgroup walk, advanced when
a new walk arrives (the walk may run slower than sampling). A cgroup that leaves the walk (removed, or
no longer among the largest max_cgroups) takes its state with it: firing, it resolves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from memmond.model.snapshot import Snapshot
from memmond.rules.expr import EvalContext, Expression, SeriesWindow, compile_together, outcome
from memmond.rules.names import Series, Vocabulary
from memmond.rules.template import Template

if TYPE_CHECKING:
    from memmond.model.cgroups import CgroupSample

SEVERITIES = ("info", "warning", "critical")
UNBOUNDED_WINDOW = 1_000_000  # for histories that are plain lists (tests): keep everything
INACTIVE, PENDING, FIRING = "inactive", "pending", "firing"


@dataclass(frozen=True)
class Rule:
    name: str
    expr: Expression
    severity: str = "warning"
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    clear: Expression | None = None
    labels: tuple[tuple[str, str], ...] = ()
    summary: Template | None = None
    origin: str = "config"  # "builtin" or "config"
    for_each: str | None = None  # "cgroup": one state per cgroup
    record: bool = False  # firing opens a memory event with a flight-recorder record

    @property
    def per_cgroup(self) -> bool:
        return self.for_each == "cgroup"

    @property
    def identity(self) -> tuple[str, str, str | None]:
        """What must stay the same for a reload to keep the rule's state."""
        return (self.name, self.expr.text, self.clear.text if self.clear else None)


@dataclass
class RuleState:
    state: str = INACTIVE
    since: float = 0.0  # when the current state began (monotonic)
    last_true: float = 0.0  # last sample at which the expression held (for keep_firing_for)
    events_total: int = 0
    value: float | None = None  # the expression's first compared value at the latest evaluation
    nodata: bool = False
    fired_summary: str = ""  # rendered when it fired: a resolved event says what fired, not what ended it


@dataclass(frozen=True)
class Transition:
    rule: Rule
    state: str  # "pending", "firing", "resolved"
    value: float | None
    summary: str
    snapshot: Snapshot = field(repr=False)
    cgroup: str = ""  # for_each: cgroup rules: which cgroup, and its systemd unit
    unit: str = ""


class Engine:
    def __init__(self, rules: Sequence[Rule] = (), vocabulary: Vocabulary | None = None) -> None:
        self.rules: list[Rule] = list(rules)
        self.vocabulary = vocabulary
        # one state a rule; for a per-cgroup rule the summary of its cgroups (firing if any fires)
        self.states: dict[str, RuleState] = {rule.name: RuleState() for rule in self.rules}
        self.cgroup_states: dict[str, dict[str, RuleState]] = {r.name: {} for r in self.rules if r.per_cgroup}
        self.cgroup_units: dict[str, str] = {}  # cgroup path -> unit, for the cgroups of the latest walk
        self._windows: dict[Series, SeriesWindow] = {}
        self._cgroup_windows: dict[str, dict[Series, SeriesWindow]] = {}
        self._cgroups_seen: float | None = None
        self._wanted, self._wanted_cgroup = self._window_series()
        self._slopes = self._slope_series()
        self._compile_machine_wide()

    def _compile_machine_wide(self) -> None:
        """The rules evaluated every sample, with their states (looked up once per reload, not per sample),
        and their expressions compiled into one function (compile_together)."""
        self._machine_wide = [(rule, self.states[rule.name]) for rule in self.rules if not rule.per_cgroup]
        self._evaluate_all = compile_together([rule.expr for rule, _ in self._machine_wide])

    def _slope_series(self) -> frozenset[Series]:
        """The series some deriv() reads: only their windows keep prefix sums."""
        return frozenset(s for rule in self.rules for e in (rule.expr, rule.clear) if e for s in e.slope_series)

    def _window_series(self) -> tuple[tuple[Series, ...], tuple[Series, ...]]:
        """The series the rules' window functions read, machine-wide and per cgroup: worked out when the
        rules change, not per sample."""
        wanted = {s for rule in self.rules for e in (rule.expr, rule.clear) if e for s in e.window_series}
        return tuple(s for s in wanted if not s.per_cgroup), tuple(s for s in wanted if s.per_cgroup)

    def _update_windows(self, history: Sequence[Snapshot]) -> None:
        """Feed the newest sample to every rolling window. A window that is new (first sample, reload) or
        did not see the previous sample is filled from the whole history instead."""
        newest = history[-1]
        now = newest.monotonic
        previous = history[-2].monotonic if len(history) > 1 else None
        maxlen = getattr(history, "maxlen", None) or UNBOUNDED_WINDOW
        windows = self._windows
        for series in self._wanted:
            rolling = windows.get(series)
            if rolling is not None and rolling.last_seen == previous and rolling.maxlen == maxlen:
                rolling.add(now, series.get(newest))  # every sample but the first after a start or reload
            elif rolling is None or rolling.last_seen != now:
                rolling = windows[series] = SeriesWindow(maxlen, series in self._slopes)
                rolling.feed(history, series.get)

    def _update_cgroup_windows(self, sample: CgroupSample, maxlen: int) -> None:
        """Each cgroup's own windows, fed from each walk; a cgroup that left the walk loses them."""
        windows = self._cgroup_windows
        present = set()
        for cgroup in sample.cgroups:
            present.add(cgroup.path)
            if not self._wanted_cgroup:
                continue
            mine = windows.setdefault(cgroup.path, {})
            for series in self._wanted_cgroup:
                rolling = mine.get(series)
                sums = series in self._slopes
                if rolling is None or rolling.maxlen != maxlen or rolling.sums != sums:
                    rolling = mine[series] = SeriesWindow(maxlen, sums)
                rolling.add(sample.monotonic, series.get(cgroup))
        for path in [path for path in windows if path not in present]:
            del windows[path]

    def replace_rules(self, rules: Sequence[Rule], vocabulary: Vocabulary) -> None:
        """A reload: rules whose name, expression and clear expression did not change keep their state
        (a firing rule stays firing without a new event); the others start inactive."""
        old = {rule.name: rule for rule in self.rules}
        states = {}
        cgroup_states: dict[str, dict[str, RuleState]] = {}
        for rule in rules:
            previous = old.get(rule.name)
            kept = previous is not None and previous.identity == rule.identity and previous.for_each == rule.for_each
            states[rule.name] = self.states[rule.name] if kept else RuleState()
            if rule.per_cgroup:
                cgroup_states[rule.name] = self.cgroup_states.get(rule.name, {}) if kept else {}
        self.rules = list(rules)
        self.states = states
        self.cgroup_states = cgroup_states
        self.vocabulary = vocabulary
        self._wanted, self._wanted_cgroup = self._window_series()
        self._slopes = self._slope_series()
        self._compile_machine_wide()
        self._windows = {  # a window whose deriv() need changed is made again, with or without prefix sums
            series: rolling
            for series, rolling in self._windows.items()
            if series in self._wanted and rolling.sums == (series in self._slopes)
        }
        self._cgroup_windows = {}
        self._cgroups_seen = None

    def evaluate(
        self,
        history: Sequence[Snapshot],
        interval_seconds: float,
        cgroups: CgroupSample | None = None,
        cgroup_interval_seconds: float | None = None,
    ) -> list[Transition]:
        """Advance every rule by the newest sample; per-cgroup rules only when `cgroups` is a walk they
        have not seen yet."""
        if not history:
            return []
        self._update_windows(history)
        ctx = EvalContext(history, interval_seconds, self._windows)
        now = ctx.now.monotonic
        transitions: list[Transition] = []
        step = self._step
        for (rule, state), (holds, value) in zip(self._machine_wide, self._evaluate_all(ctx), strict=True):
            if not holds and state.state == INACTIVE:  # nothing moves (nearly always): no further calls
                state.nodata = holds is None
                if value is not None:
                    state.value = value
                continue
            new_state = step(rule, state, holds, value, now, ctx)
            if new_state is not None and new_state != INACTIVE:  # pending -> inactive is not an event
                summary = self._transition_summary(rule, ctx, state, new_state)
                transitions.append(Transition(rule, new_state, state.value, summary, ctx.now))
        if cgroups is not None and cgroups.monotonic != self._cgroups_seen and self.cgroup_states:
            self._cgroups_seen = cgroups.monotonic
            transitions += self._evaluate_cgroups(ctx, cgroups, cgroup_interval_seconds or interval_seconds, history)
        return transitions

    def _advance(self, rule: Rule, state: RuleState, ctx: EvalContext, now: float) -> str | None:
        """One step of one state machine; returns the new state (or "resolved"), None when it stays."""
        holds, value = outcome(rule.expr, ctx)
        return self._step(rule, state, holds, value, now, ctx)

    def _step(
        self, rule: Rule, state: RuleState, holds: bool | None, value: float | None, now: float, ctx: EvalContext
    ) -> str | None:
        """The state machine's move for an evaluation just made: `holds` (None: no data) and its value."""
        state.nodata = holds is None
        if value is not None:
            state.value = value
        if holds:
            state.last_true = now
        new_state = self._next(rule, state, holds, ctx, now)
        if new_state is None:
            return None
        state.state = new_state if new_state in (PENDING, FIRING) else INACTIVE
        state.since = now
        if new_state == FIRING:
            state.events_total += 1
        return new_state

    def _evaluate_cgroups(
        self, ctx: EvalContext, sample: CgroupSample, interval_seconds: float, history: Sequence[Snapshot]
    ) -> list[Transition]:
        from memmond.model.cgroups import OTHER

        maxlen = getattr(history, "maxlen", None) or UNBOUNDED_WINDOW
        self._update_cgroup_windows(sample, maxlen)
        ctx.cgroup_time = now = sample.monotonic
        ctx.cgroup_interval = interval_seconds
        transitions: list[Transition] = []
        rules = [rule for rule in self.rules if rule.per_cgroup]
        present = {cgroup.path: cgroup for cgroup in sample.cgroups if cgroup.path != OTHER}
        self.cgroup_units = {path: cgroup.unit for path, cgroup in present.items()}
        for cgroup in present.values():
            ctx.cgroup = cgroup
            ctx.cgroup_windows = self._cgroup_windows.get(cgroup.path, {})
            for rule in rules:
                states = self.cgroup_states[rule.name]
                state = states.get(cgroup.path)
                if state is None:
                    state = states[cgroup.path] = RuleState()
                events_before = state.events_total
                new_state = self._advance(rule, state, ctx, now)
                self.states[rule.name].events_total += state.events_total - events_before
                if state.state == INACTIVE:
                    del states[cgroup.path]  # only cgroups with something going on keep a state
                if new_state is not None and new_state != INACTIVE:
                    summary = self._transition_summary(rule, ctx, state, new_state)
                    transitions.append(
                        Transition(rule, new_state, state.value, summary, ctx.now, cgroup.path, cgroup.unit)
                    )
        ctx.cgroup = None
        for rule in rules:
            states = self.cgroup_states[rule.name]
            for path in [path for path in states if path not in present]:
                state = states.pop(path)
                if state.state == FIRING:
                    summary = f"{rule.name}: {path} is no longer watched (removed, or not among the largest cgroups)"
                    transitions.append(Transition(rule, "resolved", state.value, summary, ctx.now, path, ""))
            summary_state = self.states[rule.name]
            summary_state.state = (
                FIRING if any(s.state == FIRING for s in states.values()) else PENDING if states else INACTIVE
            )
        return transitions

    def firing_cgroups(self, rule_name: str) -> list[tuple[str, str]]:
        """(cgroup, unit) of the cgroups a per-cgroup rule fires for, in path order."""
        states = self.cgroup_states.get(rule_name, {})
        return sorted(
            (path, self.cgroup_units.get(path, "")) for path, state in states.items() if state.state == FIRING
        )

    def _next(self, rule: Rule, state: RuleState, holds: bool | None, ctx: EvalContext, now: float) -> str | None:
        """The state to move to, or None to stay. `holds` None means no data."""
        if state.state == INACTIVE:
            if not holds:
                return None
            return FIRING if rule.for_seconds <= 0 else PENDING
        if state.state == PENDING:
            if not holds:
                return INACTIVE
            return FIRING if now - state.since >= rule.for_seconds else None
        # firing
        if rule.clear is not None:
            cleared, _ = outcome(rule.clear, ctx)
            return "resolved" if cleared else None
        if holds or holds is None:
            return None
        if now - state.last_true >= rule.keep_firing_for_seconds:
            return "resolved"
        return None

    def _transition_summary(self, rule: Rule, ctx: EvalContext, state: RuleState, new_state: str) -> str:
        """A resolved rule repeats the summary it fired with, as Alertmanager's resolved notification keeps
        the firing annotations: rendered at the resolving sample, "grew by" would show the shrink that
        ended it ("Page cache grew by -1.2 GiB")."""
        if new_state == "resolved" and state.fired_summary:
            return state.fired_summary
        summary = self._summary(rule, ctx, state)
        if new_state == FIRING:
            state.fired_summary = summary
        return summary

    def _summary(self, rule: Rule, ctx: EvalContext, state: RuleState) -> str:
        if rule.summary is None or self.vocabulary is None:
            subject = f" in {ctx.cgroup.path}" if ctx.cgroup is not None else ""
            return f"{rule.name}{subject}: {rule.expr.text}"
        return rule.summary.render(ctx.now, self.vocabulary, state.value, ctx.cgroup)
