"""The expression language, the rule state machine and pressure levels, on synthetic sample sequences
whose clock the test sets (no sleeping)."""

from __future__ import annotations

import pytest
from conftest import CURRENT, OLD_3_10, OLD_4_19

from memmond.config import DEFAULT_LEVELS, LevelConfig, PsiFloor, Threshold
from memmond.model.snapshot import Sampler, Snapshot
from memmond.rules.engine import FIRING, INACTIVE, PENDING, Engine, Rule
from memmond.rules.expr import (
    EvalContext,
    Expression,
    ExpressionError,
    NoData,
    compile_expression,
    compile_together,
    outcome,
)
from memmond.rules.levels import PressureTracker
from memmond.rules.names import Vocabulary
from memmond.rules.template import TemplateError, compile_template
from memmond.sources import vmtunables
from memmond.sources.meminfo import MemInfo
from memmond.sources.pressure import Pressure, StallLine
from memmond.sources.procfs import ProcFS
from memmond.sources.vmstat import VmStat

GIB = 1024**3
MIB = 1024**2


def snap(
    t: float,
    available: float = 8 * GIB,
    total: float = 16 * GIB,
    dirty: float = 0,
    pgmajfault: int = 0,
    psi_full10: float | None = None,
    anon: float = 1 * GIB,
) -> Snapshot:
    mem = {
        "MemTotal": int(total),
        "MemFree": int(available / 2),
        "MemAvailable": int(available),
        "Buffers": 0,
        "Cached": int(available / 2),
        "Dirty": int(dirty),
        "Writeback": 0,
        "AnonPages": int(anon),
        "SUnreclaim": 100 * MIB,
        "Active(file)": 0,
        "Inactive(file)": 0,
    }
    psi = None
    if psi_full10 is not None:
        psi = Pressure(StallLine(psi_full10, 0, 0, 0), StallLine(psi_full10, 0, 0, 0))
    return Snapshot(t, 1_700_000_000 + t, "boot", MemInfo(mem), VmStat({"pgmajfault": pgmajfault}), psi)


VOCAB = Vocabulary.build(snap(0, psi_full10=0.0), {"dirty_ratio": 20, "swappiness": 60})


def ev(text: str, history: list[Snapshot], interval: float = 1.0) -> float:
    return compile_expression(text, VOCAB).evaluate(EvalContext(history, interval))


# -- expressions ------------------------------------------------------------------------------------------


def test_units_and_arithmetic() -> None:
    h = [snap(0, available=1 * GIB)]
    assert ev("mem_available == 1GiB", h) == 1.0
    assert ev("mem_available == 1024MiB and 1KB == 1000 and 1kB == 1000 and 1KiB == 1024", h) == 1.0
    assert ev("mem_available / mem_total", h) == pytest.approx(1 / 16)
    assert ev("mem_available < 10% * mem_total", h) == 1.0
    assert ev("30s == 30 and 500ms == 0.5 and 2m == 120 and 1h == 3600", h) == 1.0
    assert ev("-mem_available < 0 and not mem_available > 2GiB", h) == 1.0
    assert ev("vm_dirty_ratio == 20", h) == 1.0
    assert ev("abs(-3) == 3 and max(1, 5, 2) == 5 and min(4, 2) == 2", h) == 1.0


def test_rate_delta_and_window_functions() -> None:
    h = [snap(t, pgmajfault=100 * t, dirty=t * MIB) for t in range(0, 11)]
    assert ev("rate(pgmajfault)", h) == 100.0
    assert ev("rate(pgmajfault, 5s)", h) == 100.0
    assert ev("delta(dirty, 5s)", h) == 5 * MIB
    assert ev("max_over(dirty, 3s)", h) == 10 * MIB
    assert ev("min_over(dirty, 3s)", h) == 7 * MIB
    assert ev("avg_over(dirty, 2s)", h) == 9 * MIB
    assert ev("deriv(dirty, 10s)", h) == pytest.approx(MIB)
    assert ev("deriv(anon_pages + sunreclaim, 10s)", h) == pytest.approx(0)


def test_window_functions_have_no_value_until_the_history_covers_the_window() -> None:
    h = [snap(t, dirty=MIB) for t in range(0, 3)]
    with pytest.raises(NoData, match="does not reach back 120s"):
        ev("min_over(dirty, 2m) > 0", h)
    assert ev("min_over(dirty, 2s) > 0", h) == 1.0


def test_rate_counts_a_counter_reset_as_restart_from_zero() -> None:
    h = [snap(0, pgmajfault=1000), snap(1, pgmajfault=1100), snap(2, pgmajfault=50), snap(3, pgmajfault=150)]
    assert ev("rate(pgmajfault, 3s)", h) == pytest.approx((100 + 50 + 100) / 3)


def test_deriv_is_least_squares_slope_per_second() -> None:
    values = [0, 3, 1, 5, 4]  # slope of the least-squares line through (t, v)
    h = [snap(t, anon=v * MIB) for t, v in enumerate(values)]
    mean_t, mean_v = 2, sum(values) / 5
    slope = sum((t - mean_t) * (v - mean_v) for t, v in enumerate(values)) / sum((t - mean_t) ** 2 for t in range(5))
    assert ev("deriv(anon_pages, 4s)", h) == pytest.approx(slope * MIB)


def test_missing_data_is_no_data_not_a_crash() -> None:
    with pytest.raises(NoData):
        ev("rate(pgmajfault)", [snap(0)])  # one sample: no rate yet
    with pytest.raises(NoData):
        ev("mem_available / (mem_total - mem_total)", [snap(0)])  # division by zero
    down = Snapshot(0, 0, "boot", None, None, None, errors={"meminfo": "gone"})
    with pytest.raises(NoData):
        ev("mem_available < 1GiB", [down])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('id')", "only the listed functions can be called"),
        ("mem_total.real", "attribute access (.) is not allowed"),
        ("mem_total.__class__", "attribute access"),
        ("(lambda: 1)()", "only the listed functions can be called"),
        ("lambda: 1", "lambda is not allowed"),
        ("[x for x in (1, 2)]", "a comprehension is not allowed"),
        ("{x: 1 for x in (1,)}", "a comprehension is not allowed"),
        ("2 ** 99999999", "operator ** is not allowed"),
        ("9" * 400, "number too large"),
        ("open('/etc/passwd')", "unknown function open()"),
        ("eval('1')", "unknown function eval()"),
        ("'a' < 'b'", "is not a number"),
        ("mem_total % 2", "operator % is not allowed"),
        ("mem_total if 1 else 2", "if/else is not allowed"),
        ("(x := 1)", ":= is not allowed"),
        ("globals()", "unknown function globals()"),
        ("rate(pgmajfault, window=5)", "takes no keyword arguments"),
        ("mem_totl > 0", "unknown name 'mem_totl' (did you mean 'mem_total'"),
        ("rate", "rate is a function"),
        ("min_over(dirty)", "min_over() is called as min_over(name, window)"),
        ("rate(pgmajfault, mem_total)", "must be a duration like 30s"),
        ("rate(pgmajfault, 0s)", "must be longer than 0s"),
        ("(" * 300 + "1" + ")" * 300, "not a valid expression"),
        ("", "the expression is empty"),
        ("mem_total >", "not a valid expression"),
        ("x" * 3000, "longer than 2000 characters"),
    ],
)
def test_unsafe_or_wrong_expressions_are_rejected_at_load_time(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=None) as err:
        compile_expression(text, VOCAB)
    assert message in str(err.value)


def test_an_expression_nested_deeper_than_python_compiles_is_an_error_not_a_crash() -> None:
    # 250 unary minuses parse (no parentheses in the text), but the function generated from them would
    # nest 250 pairs of parentheses: more than Python's compiler takes (200).
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("-" * 250 + "mem_total < 0", VOCAB)
    assert ev("-" * 100 + "mem_total > 0", [snap(0)]) == 1.0  # an even count: + again


def test_the_generated_function_runs_without_builtins_and_holds_no_user_text() -> None:
    expression = compile_expression("mem_available < 10% * mem_total and not dirty > 1GiB", VOCAB)
    code = expression.evaluate.__code__
    assert expression.evaluate.__globals__["__builtins__"] == {}
    assert not {"mem_available", "mem_total", "dirty"} & set(code.co_names + code.co_varnames)
    assert expression.evaluate(EvalContext([snap(0, available=1 * GIB)], 1.0)) == 1.0


def test_rules_evaluated_together_each_get_what_they_get_alone() -> None:
    """One function for all of a daemon's rules (shared reads, no call per rule) must not let one rule's
    missing data, division by zero or reported value leak into another's."""

    def python_condition(ctx: EvalContext) -> float:
        if ctx.now.monotonic < 2:
            raise NoData("not yet")
        return 1.0

    texts = [
        "mem_available < 10% * mem_total",
        "psi_full_avg10 > 1%",  # no PSI in some samples: no data for this rule only
        "dirty / (mem_total - mem_total) > 0",  # division by zero: no data
        "rate(pgmajfault, 2s) > 5 and mem_available < 10GiB",  # no data until the history reaches 2 s
        "mem_available < 2GiB and dirty > 1GiB",
        "not mem_total > 1GiB or dirty > 0",
        "-" * 100 + "mem_total > 0",  # as deeply nested as one function takes: so does the shared one
        "max(dirty, anon_pages) >= mem_total / 16",
    ]
    expressions = [compile_expression(text, VOCAB) for text in texts]
    expressions.append(Expression("<python callable>", python_condition))
    together = compile_together(expressions)
    history: list[Snapshot] = []
    outcomes = set()
    for t, available, psi in [(0, 8 * GIB, None), (1, 1 * GIB, 0.05), (2, 1 * GIB, None), (3, 12 * GIB, 0.0)]:
        history.append(snap(t, available=available, dirty=3 * GIB, pgmajfault=40 * t, psi_full10=psi))
        ctx = EvalContext(history, 1.0)
        alone = [outcome(expression, ctx) for expression in expressions]
        assert together(ctx) == alone, t
        outcomes |= {holds for holds, _ in alone}
    assert outcomes == {True, False, None}  # every kind of outcome was compared


def test_the_meminfo_fields_a_rule_reads_come_from_each_table_by_its_own_layout() -> None:
    """A rule's plain meminfo names are picked from the table in one call: a table with its fields in
    another order, one without a field the rule reads, and a sample without meminfo must each give what
    reading the fields by name gives."""
    base = dict(snap(0).meminfo.as_dict())
    reordered = dict(reversed(list(base.items())))
    without_dirty = {name: value for name, value in base.items() if name != "Dirty"}
    expression = compile_expression("mem_total - 2 * dirty - writeback", VOCAB)
    together = compile_together([expression, compile_expression("sunreclaim > 0", VOCAB)])
    for t, fields in enumerate([base, reordered, without_dirty, None, base]):
        meminfo = MemInfo(fields) if fields is not None else None
        history = [Snapshot(t, t, "boot", meminfo, None, None)]
        ctx = EvalContext(history, 1.0)
        if fields is None or "Dirty" not in fields:
            with pytest.raises(NoData):
                expression.evaluate(ctx)
        else:
            assert expression.evaluate(ctx) == fields["MemTotal"] - 2 * fields["Dirty"] - fields["Writeback"]
        expected_sunreclaim = None if fields is None else True
        assert [holds for holds, _ in together(ctx)] == [
            None if fields is None or "Dirty" not in fields else True,
            expected_sunreclaim,
        ]


def test_rules_too_many_to_compile_together_are_evaluated_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import memmond.rules.expr as expr_module

    expressions = [compile_expression(text, VOCAB) for text in ("mem_available < 10GiB", "psi_full_avg10 > 1%")]

    def refuse(*args: object) -> None:
        raise RecursionError("as Python's compiler does for a function too large")

    monkeypatch.setattr(expr_module, "compile", refuse, raising=False)
    together = compile_together(expressions)
    ctx = EvalContext([snap(0, available=1 * GIB)], 1.0)
    assert together(ctx) == [outcome(expression, ctx) for expression in expressions] == [(True, GIB), (None, None)]


def test_the_value_an_event_reports_is_the_first_comparison_evaluated() -> None:
    history = [snap(0, available=1 * GIB, dirty=3 * GIB)]
    for text, reported in [
        ("mem_available < 2GiB", 1 * GIB),
        ("mem_available < 2GiB and dirty > 1GiB", 1 * GIB),
        ("mem_available > 2GiB or dirty > 1GiB", 1 * GIB),  # the first comparison, though it was false
        ("not dirty < 1GiB", 3 * GIB),
        ("mem_available < (dirty < 1GiB) + 2GiB", 1 * GIB),  # the outer left operand comes first
        ("1GiB / (dirty > 1GiB) > 0", 3 * GIB),  # a denominator is evaluated before its numerator
    ]:
        ctx = EvalContext(history, 1.0)
        compile_expression(text, VOCAB).evaluate(ctx)
        assert ctx.first_compare_value == reported, text


def test_error_columns_point_into_the_text_as_written() -> None:
    with pytest.raises(ExpressionError) as err:
        compile_expression("dirty > 512MiB and rate(pgmajfault, 0s) > 1", VOCAB)
    assert "(at column 37)" in str(err.value)  # the 0s, counted in the original text


def test_vocabulary_follows_the_kernel() -> None:
    old = Sampler(ProcFS(OLD_3_10)).capture()
    vocab = Vocabulary.build(old, {})
    assert "mem_available" in vocab.series  # estimated on kernels without MemAvailable
    with pytest.raises(ExpressionError, match="this kernel has no PSI"):
        compile_expression("psi_some_avg10 > 10%", vocab)
    with pytest.raises(ExpressionError, match="could not be read"):
        compile_expression("vm_swappiness > 0", vocab)
    v419 = Vocabulary.build(Sampler(ProcFS(OLD_4_19)).capture(), {})
    assert v419.series["workingset_refault_file"].get(Sampler(ProcFS(OLD_4_19)).capture()) == 3386215


def test_every_name_of_the_current_kernel_is_unique_across_sources() -> None:
    current = Sampler(ProcFS(CURRENT)).capture()
    tunables, problems = vmtunables.read(ProcFS(CURRENT))
    assert problems == {}
    vocab = Vocabulary.build(current, tunables)
    meminfo_names = {n for n, s in vocab.series.items() if s.kind == "meminfo"}
    vmstat_names = {n for n, s in vocab.series.items() if s.kind == "vmstat"}
    assert not meminfo_names & vmstat_names
    assert len(meminfo_names) == len(current.meminfo or {})
    assert vocab.series["vm_dirty_ratio"].get(current) == tunables["dirty_ratio"]


def test_template_renders_values_and_rejects_unknown_names() -> None:
    template = compile_template("Available {{ mem_available | bytes }} of {{mem_total|bytes}} ({{ value }})", VOCAB)
    text = template.render(snap(0, available=GIB), VOCAB, 0.0625)
    assert text == "Available 1.0 GiB of 16.0 GiB (0.0625)"
    with pytest.raises(TemplateError, match="unknown name 'mem_avail'"):
        compile_template("{{ mem_avail | bytes }}", VOCAB)
    with pytest.raises(TemplateError, match="unknown filter 'shout'"):
        compile_template("{{ mem_total | shout }}", VOCAB)


# -- engine -----------------------------------------------------------------------------------------------


def rule(name: str, expr: str, **kwargs) -> Rule:
    clear = kwargs.pop("clear", None)
    return Rule(
        name,
        compile_expression(expr, VOCAB),
        clear=compile_expression(clear, VOCAB) if clear else None,
        **kwargs,
    )


def run(engine: Engine, samples: list[Snapshot]) -> list[tuple[float, str, str]]:
    """Feed samples one at a time; return (time, rule, transition) for each transition."""
    history: list[Snapshot] = []
    out = []
    for sample in samples:
        history.append(sample)
        for transition in engine.evaluate(history, 1.0):
            out.append((sample.monotonic, transition.rule.name, transition.state))
    return out


def test_for_holds_a_rule_pending_until_the_condition_has_lasted() -> None:
    engine = Engine([rule("low", "mem_available < 1GiB", for_seconds=3)], VOCAB)
    low = [snap(t, available=0.5 * GIB) for t in range(0, 6)]
    assert run(engine, low) == [(0, "low", PENDING), (3, "low", FIRING)]
    assert engine.states["low"].events_total == 1


def test_pending_that_breaks_off_never_fires() -> None:
    engine = Engine([rule("low", "mem_available < 1GiB", for_seconds=3)], VOCAB)
    samples = [
        snap(0, available=0.5 * GIB),
        snap(1, available=0.5 * GIB),
        snap(2, available=4 * GIB),
        snap(3, available=0.5 * GIB),
        snap(4, available=0.5 * GIB),
    ]
    assert run(engine, samples) == [(0, "low", PENDING), (3, "low", PENDING)]
    assert engine.states["low"].state == PENDING and engine.states["low"].events_total == 0


def test_resolves_when_false_and_counts_each_firing() -> None:
    engine = Engine([rule("low", "mem_available < 1GiB")], VOCAB)
    values = [0.5, 0.5, 2, 0.5, 2]
    events = run(engine, [snap(t, available=v * GIB) for t, v in enumerate(values)])
    assert events == [(0, "low", FIRING), (2, "low", "resolved"), (3, "low", FIRING), (4, "low", "resolved")]
    assert engine.states["low"].events_total == 2
    assert engine.states["low"].state == INACTIVE


def test_clear_expression_gives_hysteresis_at_the_threshold() -> None:
    engine = Engine([rule("low", "mem_available < 10% * mem_total", clear="mem_available > 15% * mem_total")], VOCAB)
    ratios = [0.09, 0.11, 0.09, 0.12, 0.099, 0.14, 0.16, 0.09]  # hovering around 10 %
    events = run(engine, [snap(t, available=r * 16 * GIB) for t, r in enumerate(ratios)])
    assert events == [(0, "low", FIRING), (6, "low", "resolved"), (7, "low", FIRING)]


def test_keep_firing_for_bridges_short_gaps() -> None:
    engine = Engine([rule("low", "mem_available < 1GiB", keep_firing_for_seconds=3)], VOCAB)
    values = [0.5, 2, 2, 0.5, 2, 2, 2, 2]
    events = run(engine, [snap(t, available=v * GIB) for t, v in enumerate(values)])
    assert events == [(0, "low", FIRING), (6, "low", "resolved")]


def test_no_data_never_fires_and_never_resolves() -> None:
    engine = Engine([rule("faults", "rate(pgmajfault) > 10")], VOCAB)
    down = Snapshot(2, 2, "boot", None, None, None, errors={"vmstat": "gone"})
    samples = [snap(0, pgmajfault=0), snap(1, pgmajfault=100), down, snap(3, pgmajfault=300)]
    assert run(engine, samples) == [(1, "faults", FIRING)]
    assert engine.states["faults"].state == FIRING


def test_reload_keeps_state_of_unchanged_rules_only() -> None:
    engine = Engine([rule("a", "mem_total > 0"), rule("b", "mem_total > 0")], VOCAB)
    run(engine, [snap(0)])
    assert engine.states["a"].state == FIRING and engine.states["b"].state == FIRING
    engine.replace_rules([rule("a", "mem_total > 0"), rule("b", "mem_total > 1")], VOCAB)
    assert engine.states["a"].state == FIRING and engine.states["a"].events_total == 1
    assert engine.states["b"].state == INACTIVE and engine.states["b"].events_total == 0


def test_transition_reports_value_and_summary() -> None:
    summary = compile_template("Available {{ mem_available | bytes }} of {{ mem_total | bytes }}", VOCAB)
    engine = Engine([Rule("low", compile_expression("mem_available < 10% * mem_total", VOCAB), summary=summary)], VOCAB)
    (transition,) = engine.evaluate([snap(0, available=GIB)], 1.0)
    assert transition.value == GIB
    assert transition.summary == "Available 1.0 GiB of 16.0 GiB"


def test_a_resolved_rule_says_what_fired_not_the_value_that_ended_it() -> None:
    """The daemon logged "Page cache grew by -1.2 GiB in 10 s": keep_firing_for resolved the rule at a
    sample where the cache shrank, and the summary was rendered from that sample."""
    summary = compile_template("Page cache grew by {{ value | bytes }} in 2 s", VOCAB)
    growth = Rule(
        "growth", compile_expression("delta(page_cache, 2s) > 100MiB", VOCAB), summary=summary,
        keep_firing_for_seconds=2,
    )  # fmt: skip
    engine = Engine([growth], VOCAB)
    history: list[Snapshot] = []
    transitions = []
    for t, available in enumerate([2, 2, 2.5, 2.5, 2.5, 1, 1, 1, 1]):  # cache is half of available here
        history.append(snap(t, available=available * GIB))
        transitions += engine.evaluate(history, 1.0)
    assert [(tr.state, tr.summary) for tr in transitions] == [
        ("firing", "Page cache grew by 256.0 MiB in 2 s"),
        ("resolved", "Page cache grew by 256.0 MiB in 2 s"),
    ]
    assert "-" not in transitions[-1].summary


# -- pressure levels --------------------------------------------------------------------------------------


def levels(ratios: list[float], config: LevelConfig = DEFAULT_LEVELS, psi: list[float] | None = None) -> list[str]:
    tracker = PressureTracker(config)
    out = []
    for t, ratio in enumerate(ratios):
        tracker.update(snap(t, available=ratio * 16 * GIB, psi_full10=psi[t] if psi else None))
        out.append(tracker.level)
    return out


def test_levels_follow_the_seed_thresholds() -> None:
    assert levels([0.6, 0.5, 0.3, 0.2, 0.15, 0.1, 0.05]) == [
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]


def test_levels_do_not_flap_at_a_boundary() -> None:
    # hovering around 20 %: enters high at 0.20, leaves only above 0.22
    assert levels([0.25, 0.20, 0.21, 0.199, 0.215, 0.221, 0.20]) == [
        "medium",
        "high",
        "high",
        "high",
        "high",
        "medium",
        "high",
    ]


def test_recovery_steps_down_through_every_exit() -> None:
    assert levels([0.05, 0.6]) == ["critical", "low"]
    assert levels([0.05, 0.115, 0.13]) == ["critical", "critical", "high"]


def test_psi_raises_the_level_with_its_own_hysteresis() -> None:
    ratios = [0.9] * 5
    psi = [0.0, 0.15, 0.07, 0.04, 0.0]  # full avg10: above 10 % -> at least high, until below 5 %
    assert levels(ratios, psi=psi) == ["low", "high", "high", "low", "low"]


def test_a_level_change_says_what_decided_it() -> None:
    tracker = PressureTracker()
    assert tracker.reason == "no sample yet"
    change = tracker.update(snap(0, available=0.04 * 16 * GIB))
    assert change is not None and change.level == "critical"
    assert change.reason == tracker.reason == "available 4.0% of memory, at or below 10.0%"
    change = tracker.update(snap(1, available=0.9 * 16 * GIB, psi_full10=0.15))
    assert change is not None and change.level == "high"
    assert change.reason == "PSI full avg10 15.00% (above 10.0% sets at least high)"
    tracker.reconfigure(LevelConfig((Threshold("medium", 0.5, 0.6),), ()))  # a reload: fewer thresholds
    assert tracker.reason.startswith("PSI full avg10")  # still what decided the level it holds


def test_memtotal_zero_keeps_the_level() -> None:
    tracker = PressureTracker()
    tracker.update(snap(0, available=0.05 * 16 * GIB))
    assert tracker.update(snap(1, total=0, available=0)) is None
    assert tracker.level == "critical"


def test_custom_thresholds() -> None:
    config = LevelConfig((Threshold("medium", 0.999, 0.9995),), (PsiFloor("some", "10", 0.5, 0.4, "high"),))
    assert levels([0.99, 0.9999], config) == ["medium", "low"]


def test_rolling_windows_agree_with_computing_from_the_history() -> None:
    """The engine keeps per-series arrays instead of re-reading snapshots; both must give the same answer,
    through gaps (a sample without vmstat), a counter reset, the history ring dropping old samples, a
    reload that adds a window and a sample the engine did not evaluate."""
    from collections import deque

    texts = [
        "rate(pgmajfault, 5s)",
        "deriv(dirty, 8s)",
        "min_over(dirty, 3s)",
        "max_over(anon_pages + dirty, 6s)",
        "avg_over(dirty, 4s)",
        "delta(dirty, 7s)",
    ]
    expressions = [compile_expression(text, VOCAB) for text in texts]
    engine = Engine([Rule(f"r{i}", e) for i, e in enumerate(expressions)], VOCAB)
    history: deque[Snapshot] = deque(maxlen=12)
    counter = 0
    for t in range(40):
        counter = 5 if t == 20 else counter + 7 * t  # a reset at t=20
        sample = snap(t, dirty=(t % 9) * MIB, pgmajfault=counter)
        if t % 6 == 5:
            sample = Snapshot(t, t, "boot", sample.meminfo, None, None, errors={"vmstat": "gone"})
        history.append(sample)
        if t == 30:
            continue  # a sample the engine never saw: every window is filled from the history again
        if t == 25:  # a reload with one more window: the new one is filled, the others fed on
            more = compile_expression("max_over(pgmajfault, 4s)", VOCAB)
            engine.replace_rules([Rule(f"r{i}", e) for i, e in enumerate([*expressions, more])], VOCAB)
        engine.evaluate(history, 1.0)
        direct = EvalContext(history, 1.0)
        rolling = EvalContext(history, 1.0, engine._windows)
        for text, expression in zip(texts, expressions, strict=True):
            results = []
            for ctx in (direct, rolling):
                try:
                    results.append(expression.evaluate(ctx))
                except NoData:
                    results.append("nodata")
            assert results[0] == pytest.approx(results[1]), (t, text, results)
        assert set(engine._windows) == set(engine._wanted)  # each series read through a window has one


def test_deriv_from_prefix_sums_agrees_with_the_direct_slope_through_trims_and_rebases() -> None:
    """The rolling window answers deriv() from prefix sums; through a ring that drops old points, bases
    that move forward every 2 x maxlen points, a long uptime and byte-sized values, it must give the slope
    the direct least-squares computation gives."""
    import random

    from memmond.rules.expr import SeriesWindow, _deriv

    rng = random.Random(7)
    window = SeriesWindow(maxlen=50)
    uptime = 9_876_543.0  # seconds since boot: large times
    value = 3e10  # bytes: large values
    for step in range(400):
        when = uptime + step + rng.uniform(-0.05, 0.05)  # scheduling jitter
        value += 16_384 + rng.uniform(-50_000, 50_000)  # a slow leak under noise
        window.add(when, None if step % 37 == 5 else value)  # gaps, as a sample without the source
        window.trim()
        for seconds in (5, 20, 49):
            horizon = when - seconds
            try:
                direct = _deriv(window.since(horizon))
            except NoData:
                with pytest.raises(NoData):
                    window.deriv(horizon)
                continue
            assert window.deriv(horizon) == pytest.approx(direct, rel=1e-6, abs=1e-6), (step, seconds)
