"""Rules as state machines: inactive -> pending -> firing -> resolved (-> inactive), like Prometheus.

- `for`: the expression must hold that long (pending) before the rule fires.
- `keep_firing_for`: once firing, the rule stays firing until the expression has been false that long.
- `clear`: once firing, the rule resolves only when this expression is true (hysteresis: fire below 10 %,
  clear above 15 %), whatever the firing expression says meanwhile.

A value the expression needs but cannot get (source down, too little history) counts as "false" for
firing and "not yet" for clearing: missing data never fires a rule and never resolves one early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from memmond.model.snapshot import Snapshot
from memmond.rules.expr import EvalContext, Expression, NoData, SeriesWindow
from memmond.rules.names import Series, Vocabulary
from memmond.rules.template import Template

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


@dataclass(frozen=True)
class Transition:
    rule: Rule
    state: str  # "pending", "firing", "resolved"
    value: float | None
    summary: str
    snapshot: Snapshot = field(repr=False)


def _holds(expression: Expression, ctx: EvalContext) -> tuple[bool | None, float | None]:
    """(true/false, or None for no data; the first compared value)."""
    ctx.first_compare_value = None
    try:
        result = expression.evaluate(ctx)
    except NoData:
        return None, ctx.first_compare_value
    return bool(result), ctx.first_compare_value


class Engine:
    def __init__(self, rules: Sequence[Rule] = (), vocabulary: Vocabulary | None = None) -> None:
        self.rules: list[Rule] = list(rules)
        self.vocabulary = vocabulary
        self.states: dict[str, RuleState] = {rule.name: RuleState() for rule in self.rules}
        self._windows: dict[Series, SeriesWindow] = {}
        self._wanted = self._window_series()

    def _window_series(self) -> tuple[Series, ...]:
        """The series the rules' window functions read: worked out when the rules change, not per sample."""
        wanted = {s for rule in self.rules for e in (rule.expr, rule.clear) if e for s in e.window_series}
        return tuple(wanted)

    def _update_windows(self, history: Sequence[Snapshot]) -> None:
        """Feed the newest sample to every rolling window. A window that is new (first sample, reload) or
        did not see the previous sample is filled from the whole history instead."""
        newest = history[-1]
        previous = history[-2].monotonic if len(history) > 1 else None
        maxlen = getattr(history, "maxlen", None) or UNBOUNDED_WINDOW
        for series in self._wanted:
            rolling = self._windows.get(series)
            if rolling is not None and rolling.last_seen == newest.monotonic:
                continue
            if rolling is None or rolling.maxlen != maxlen or rolling.last_seen != previous:
                rolling = self._windows[series] = SeriesWindow(maxlen)
                rolling.feed(history, series.get)
            else:
                rolling.feed((newest,), series.get)

    def replace_rules(self, rules: Sequence[Rule], vocabulary: Vocabulary) -> None:
        """A reload: rules whose name, expression and clear expression did not change keep their state
        (a firing rule stays firing without a new event); the others start inactive."""
        old = {rule.name: rule for rule in self.rules}
        states = {}
        for rule in rules:
            previous = old.get(rule.name)
            if previous is not None and previous.identity == rule.identity:
                states[rule.name] = self.states[rule.name]
            else:
                states[rule.name] = RuleState()
        self.rules = list(rules)
        self.states = states
        self.vocabulary = vocabulary
        self._wanted = self._window_series()
        self._windows = {series: rolling for series, rolling in self._windows.items() if series in self._wanted}

    def evaluate(self, history: Sequence[Snapshot], interval_seconds: float) -> list[Transition]:
        if not history:
            return []
        self._update_windows(history)
        ctx = EvalContext(history, interval_seconds, self._windows)
        now = ctx.now.monotonic
        transitions: list[Transition] = []
        for rule in self.rules:
            state = self.states[rule.name]
            holds, value = _holds(rule.expr, ctx)
            state.nodata = holds is None
            if value is not None:
                state.value = value
            if holds:
                state.last_true = now
            new_state = self._next(rule, state, holds, ctx, now)
            if new_state is None:
                continue
            state.state = new_state if new_state in (PENDING, FIRING) else INACTIVE
            state.since = now
            if new_state == FIRING:
                state.events_total += 1
            if new_state != INACTIVE:  # pending -> inactive (never fired) is not an event
                summary = self._summary(rule, ctx, state)
                transitions.append(Transition(rule, new_state, state.value, summary, ctx.now))
        return transitions

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
            cleared, _ = _holds(rule.clear, ctx)
            return "resolved" if cleared else None
        if holds or holds is None:
            return None
        if now - state.last_true >= rule.keep_firing_for_seconds:
            return "resolved"
        return None

    def _summary(self, rule: Rule, ctx: EvalContext, state: RuleState) -> str:
        if rule.summary is None or self.vocabulary is None:
            return f"{rule.name}: {rule.expr.text}"
        return rule.summary.render(ctx.now, self.vocabulary, state.value)
