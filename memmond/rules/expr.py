"""A small, safe expression language over snapshot values and their history.

    mem_available < 10% * mem_total
    rate(pgmajfault) > 500 and psi_some_avg10 > 10%
    deriv(anon_pages + sunreclaim, 15m) > 1MiB

Text is parsed once at load time with Python's `ast`, and only a whitelist of node types is accepted:
numbers, names from the vocabulary, + - * /, comparisons, and/or/not, and the window functions below
called by name with plain arguments. Everything else (attributes, subscripts, lambdas, comprehensions,
strings, `**`, keyword arguments, calls of anything not listed) is rejected before anything runs. The
accepted tree becomes one Python function per expression, compiled from source the compiler writes: only
operators, float literals and names of its own for the objects it binds (getters, window functions), so
the user's text never reaches compile or exec, and the function runs without builtins. One function, not
a closure per node: every rule runs every second, mostly on caches gone cold since the last second, and
a tree of closures touched a code object and cells per node (16 built-in rules: 25 -> 18 us a sample
hot, and 5 % less of an idle daemon's CPU). The engine goes one step further with `compile_together`:
the bodies of all machine-wide rules in one function, each name read once for all of them. The generated
code nests a pair of parentheses per part: an expression nested ~100 deep is "nested too deeply" (Python
compiles 200 levels).

Units are written after numbers: 512MiB, 4KB, 10%, 30s, 500ms, 2m, 1h. Binary units (KiB, MiB, GiB, TiB)
are powers of 1024, decimal ones (kB, KB, MB, GB, TB) powers of 1000, % divides by 100, durations are
seconds.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import math
import operator
import re
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from memmond.format import SIZE_UNITS
from memmond.model.snapshot import Snapshot
from memmond.rules.names import MEMINFO_FIELD, Series, Vocabulary, value_range
from memmond.sources.cgroup import CgroupMemory

MAX_EXPRESSION_LENGTH = 2000
MAX_NODES = 400

_UNITS = {
    **{unit: float(factor) for unit, factor in SIZE_UNITS.items() if unit},  # the CLI's sizes, one table
    "%": 0.01, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0,
}  # fmt: skip
_UNIT_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB|B|%|ms|s|m|h)(?![\w%])")


class ExpressionError(ValueError):
    """The text is not a valid expression; the message says what and where."""


class NoData(Exception):
    """A value the expression needs is missing this time (source down, history too short)."""


class SeriesWindow:
    """One series' recent values as two parallel arrays (times ascending), appended once per sample.

    A window query is a bisect and two slices, and the reductions over it (min, max, sums) run in C:
    re-reading 1000 values out of 1000 snapshots at every sample cost ~0.4 ms per long-window rule.

    deriv() needs four sums over the window; prefix sums of them are kept beside the arrays, so a slope
    over 600 points is a bisect and a few subtractions (63 µs a sample before, for the slab-growth rule).
    Times and values are taken relative to a base that moves forward every 2 x maxlen points, so the
    sums stay small enough for float64 to subtract them without losing the slope."""

    __slots__ = (
        "_base_time",
        "_base_value",
        "_fed_since_base",
        "_st",
        "_stt",
        "_stv",
        "_sv",
        "_trim_above",
        "first_seen",
        "last_seen",
        "maxlen",
        "sums",
        "times",
        "values",
    )

    def __init__(self, maxlen: int, sums: bool = True) -> None:
        self.maxlen = maxlen
        self._trim_above = maxlen + max(16, maxlen // 8)
        self.sums = sums  # prefix sums only for a series some deriv() reads: the others never look
        self.times = array("d")
        self.values = array("d")
        self.first_seen: float | None = None  # time of the first sample fed, with or without a value
        self.last_seen: float | None = None  # time of the last sample fed, with or without a value
        self._rebase()

    def _rebase(self) -> None:
        """Prefix sums of t, v, t*t, t*v (relative to the oldest point) for the points held now."""
        self._base_time = self.times[0] if self.times else 0.0
        self._base_value = self.values[0] if self.values else 0.0
        self._st, self._sv, self._stt, self._stv = (
            array("d", [0.0]),
            array("d", [0.0]),
            array("d", [0.0]),
            array("d", [0.0]),
        )
        self._fed_since_base = 0
        if self.sums:
            for when, value in zip(self.times, self.values, strict=True):
                self._accumulate(when, value)

    def _accumulate(self, when: float, value: float) -> None:
        if self._fed_since_base == 0:  # the first point after a (re)base is the base
            self._base_time, self._base_value = when, value
        t, v = when - self._base_time, value - self._base_value
        self._st.append(self._st[-1] + t)
        self._sv.append(self._sv[-1] + v)
        self._stt.append(self._stt[-1] + t * t)
        self._stv.append(self._stv[-1] + t * v)
        self._fed_since_base += 1

    def feed(self, snapshots: Iterable[Snapshot], get: Callable[[Snapshot], float | None]) -> None:
        """A new window filled from the history. It starts at the first sample with a value: samples the
        history has cut to the fields read at the time (a reload adds a rule over another field) must
        not count as covered, or a "for 2 minutes" window would hold on one minute of values."""
        values = iter(snapshots)
        for snap in values:
            value = get(snap)
            if value is not None:
                self.add(snap.monotonic, value)
                break
        for snap in values:
            self.add(snap.monotonic, get(snap))

    def add(self, when: float, value: float | None) -> None:
        """One point (None: the sample had no value), trimming when the batch is due."""
        if value is not None:
            times = self.times
            times.append(when)
            self.values.append(float(value))
            if self.sums:
                self._accumulate(when, float(value))
            if len(times) > self._trim_above or (self.sums and self._fed_since_base > 2 * self.maxlen):
                self.trim()
        if self.first_seen is None:
            self.first_seen = when
        self.last_seen = when

    def trim(self) -> None:
        """Drop the points beyond maxlen, in batches of an eighth: deleting one point from the front moved
        the whole array (8 KB a series at 1000 points) every sample. Queries look at the newest maxlen
        points only (`_first`), so the points waiting for the next batch never count."""
        excess = len(self.times) - self.maxlen
        if len(self.times) > self._trim_above:
            del self.times[:excess]
            del self.values[:excess]
            if self.sums:
                for sums in (self._st, self._sv, self._stt, self._stv):
                    del sums[:excess]  # the first entry becomes the sum before the new oldest point
        if self.sums and self._fed_since_base > 2 * self.maxlen:
            self._rebase()

    def _first(self, horizon: float) -> int:
        """The index of the oldest point at or after `horizon` among the newest maxlen points."""
        return max(bisect.bisect_left(self.times, horizon), len(self.times) - self.maxlen)

    def since(self, horizon: float) -> tuple[array[float], array[float]]:
        start = self._first(horizon)
        return self.times[start:], self.values[start:]

    def deriv(self, horizon: float) -> float:
        """Least-squares slope per second of the points from `horizon` on, as _deriv() computes it."""
        assert self.sums, "a window made without prefix sums"
        start = self._first(horizon)
        end = len(self.times)
        count = end - start
        if count < 2:
            raise NoData(f"deriv: {count} sample(s) in the window, need 2")
        sum_t = self._st[end] - self._st[start]
        sum_v = self._sv[end] - self._sv[start]
        var_t = (self._stt[end] - self._stt[start]) - sum_t * sum_t / count
        if var_t <= 0:
            raise NoData("deriv: no time between samples")
        return ((self._stv[end] - self._stv[start]) - sum_t * sum_v / count) / var_t


class EvalContext:
    """What an expression sees: the history (oldest first, newest = now) and the sampling interval, plus
    the rolling windows the engine keeps for the series its rules look back on. A rule with `for_each:
    cgroup` is evaluated once per cgroup: `cgroup` is the one in hand, `cgroup_windows` its own windows."""

    def __init__(
        self,
        history: Sequence[Snapshot],
        interval_seconds: float,
        windows: dict[Series, SeriesWindow] | None = None,
    ) -> None:
        if not history:
            raise NoData("no samples yet")
        self.history = history
        self.now = history[-1]
        self.interval = interval_seconds
        self.windows = windows or {}
        self.first_compare_value: float | None = None
        self.cgroup: CgroupMemory | None = None
        self.cgroup_time = 0.0
        self.cgroup_interval = interval_seconds
        self.cgroup_windows: dict[Series, SeriesWindow] = {}

    def current(self, series: Series) -> float:
        source = self.cgroup if series.per_cgroup else self.now
        value = None if source is None else series.get(source)  # no cgroup in hand: no data
        if value is None:
            raise NoData(series.name)
        return float(value)

    def _reach(self, series: Series, seconds: float) -> tuple[SeriesWindow | None, float]:
        """Where the last `seconds` of a series are: its rolling window (None: only the history has it) and
        the oldest time that counts, half an interval of scheduling jitter before the window's start.

        No data until the samples cover the window: "writeback stayed above zero for 2 minutes" must not
        fire on the first two seconds after a start, nor on a cgroup that appeared a second ago."""
        if series.per_cgroup:  # the cgroup's own samples, at the cgroup walk's interval
            rolling = self.cgroup_windows.get(series)
            start = self.cgroup_time - seconds
            if rolling is None or rolling.first_seen is None or rolling.first_seen > start + self.cgroup_interval / 2:
                raise NoData(f"the cgroup's history does not reach back {seconds:g}s yet")
            return rolling, start - self.cgroup_interval / 2
        start = self.now.monotonic - seconds
        rolling = self.windows.get(series)
        first = self.history[0].monotonic
        if rolling is not None and rolling.first_seen is not None:  # a window refilled after a reload
            first = max(first, rolling.first_seen)
        if first > start + self.interval / 2:
            raise NoData(f"the history does not reach back {seconds:g}s yet")
        return rolling, start - self.interval / 2

    def window(self, series: Series, seconds: float) -> tuple[Sequence[float], Sequence[float]]:
        """(times, values) of the samples within the last `seconds`, oldest first, the current included."""
        rolling, horizon = self._reach(series, seconds)
        if rolling is not None:
            return rolling.since(horizon)
        times: list[float] = []
        values: list[float] = []
        for snap in reversed(self.history):
            if snap.monotonic < horizon:
                break
            value = series.get(snap)
            if value is not None:
                times.append(snap.monotonic)
                values.append(float(value))
        times.reverse()
        values.reverse()
        return times, values

    def deriv(self, series: Series, seconds: float) -> float:
        """deriv() over the window: from the rolling window's prefix sums where there is one (a cgroup's
        too), else from the samples."""
        rolling, horizon = self._reach(series, seconds)
        if rolling is not None:
            return rolling.deriv(horizon)
        return _deriv(self.window(series, seconds))

    def last_step(self, series: Series) -> Points:
        """The previous and the current sample of a series: rate() without a window."""
        if series.per_cgroup:
            rolling = self.cgroup_windows.get(series)
            if rolling is None or len(rolling.times) < 2 or rolling.times[-1] != self.cgroup_time:
                raise NoData(f"rate: need two samples of {series.name}")
            return rolling.times[-2:], rolling.values[-2:]
        history = self.history
        if len(history) < 2:
            raise NoData("rate: need two samples")
        before, now = series.get(history[-2]), series.get(history[-1])
        if before is None or now is None:
            raise NoData(series.name)
        return (history[-2].monotonic, history[-1].monotonic), (float(before), float(now))


Evaluator = Callable[[EvalContext], float]


@dataclass(frozen=True)
class Expression:
    text: str
    evaluate: Evaluator = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()
    longest_window: float = 0.0
    """Seconds of history the expression reaches back (0 when it needs only the current sample)."""
    window_series: tuple[Series, ...] = ()
    """The series its window functions look back on; the engine keeps a SeriesWindow for each."""
    slope_series: tuple[Series, ...] = ()
    """Those of them deriv() reads: their windows keep prefix sums."""
    per_cgroup: bool = False
    """It uses a cgroup_* name: evaluated once per cgroup (a rule with `for_each: cgroup`)."""
    condition: bool = True
    """Its outermost part is a comparison, and/or or not: a rule's expr must be one (`mem_available` alone
    is a number, true whenever it is not 0)."""
    body: str = field(default="", repr=False, compare=False)
    """The generated code of `evaluate` (compile_together puts several in one function): the value, after
    `reads` (local name -> getter name) are assigned from `env`'s objects."""
    reads: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    env: dict[str, object] = field(default_factory=dict, repr=False, compare=False)


# -- window functions -----------------------------------------------------------------------------------


Points = tuple[Sequence[float], Sequence[float]]  # (times, values), oldest first


def _need(values: Sequence[float], count: int, what: str) -> None:
    if len(values) < count:
        raise NoData(f"{what}: {len(values)} sample(s) in the window, need {count}")


def _increase(values: Sequence[float]) -> float:
    """Counter increase, counting a drop as a reset (the counter restarted from 0)."""
    if all(map(operator.le, values[:-1], values[1:])):  # the usual case, checked in C
        return values[-1] - values[0]
    return sum(after - before if after >= before else after for before, after in itertools.pairwise(values))


def _rate(points: Points) -> float:
    times, values = points
    _need(values, 2, "rate")
    seconds = times[-1] - times[0]
    if seconds <= 0:
        raise NoData("rate: no time between samples")
    return _increase(values) / seconds


def _delta(points: Points) -> float:
    _need(points[1], 2, "delta")
    return points[1][-1] - points[1][0]


def _deriv(points: Points) -> float:
    """Least-squares slope per second, as PromQL's deriv(). Times are taken relative to the first one so
    the sums of squares do not lose precision on a machine with a long uptime."""
    times, values = points
    _need(values, 2, "deriv")
    n = len(values)
    start = times[0]
    relative = list(map(operator.sub, times, itertools.repeat(start, n)))
    sum_t, sum_v = sum(relative), sum(values)
    var_t = sum(map(operator.mul, relative, relative)) - sum_t * sum_t / n
    if var_t <= 0:
        raise NoData("deriv: no time between samples")
    cov = sum(map(operator.mul, relative, values)) - sum_t * sum_v / n
    return cov / var_t


def _over(reduce: Callable[[Sequence[float]], float]) -> Callable[[Points], float]:
    def apply(points: Points) -> float:
        _need(points[1], 1, "window")
        return reduce(points[1])

    return apply


# name -> (implementation over (time, value) points, whether the window argument is required)
WINDOW_FUNCTIONS: dict[str, tuple[Callable[[Points], float], bool]] = {
    "rate": (_rate, False),
    "delta": (_delta, True),
    "deriv": (_deriv, True),
    "min_over": (_over(min), True),
    "max_over": (_over(max), True),
    "avg_over": (_over(lambda values: math.fsum(values) / len(values)), True),
}
PLAIN_FUNCTIONS: dict[str, Callable[..., float]] = {"abs": abs, "min": min, "max": max}


# -- compiler -------------------------------------------------------------------------------------------

_COMPARE_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_ARITH_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}  # window series, per snapshot


def _nodata(name: str) -> float:
    raise NoData(name)


def _divide(denominator: float, numerator: float) -> float:
    if denominator == 0:
        raise NoData("division by zero")
    return numerator / denominator


def _first(ctx: EvalContext, value: float) -> float:
    if ctx.first_compare_value is None:
        ctx.first_compare_value = value  # the value an event reports
    return value


# What generated code may call besides the objects its compiler binds; no builtins at all.
_RUNTIME: dict[str, object] = {
    "__builtins__": {}, "_float": float, "_bool": bool, "_nodata": _nodata, "_divide": _divide, "_first": _first,
    "_rate": _rate, "_NoData": NoData,
}  # fmt: skip


def _substitute_units(text: str) -> tuple[str, Callable[[int], int]]:
    """The text with unit literals replaced by plain numbers, and a map from a column of the result
    back to the column of the text the user wrote (for error messages)."""
    pieces: list[str] = []
    # (first result column after a replaced literal, how far the text ran ahead of the result there)
    marks: list[tuple[int, int]] = []
    result_length = 0
    ahead = 0
    last = 0
    for match in _UNIT_RE.finditer(text):
        number = repr(float(match.group(1)) * _UNITS[match.group(2)])
        before = text[last : match.start()]
        pieces += [before, number]
        result_length += len(before) + len(number)
        ahead += len(match.group(0)) - len(number)
        marks.append((result_length, ahead))
        last = match.end()
    pieces.append(text[last:])

    def original_column(column: int) -> int:
        shift = 0
        for first_after, text_ahead in marks:
            if column >= first_after:
                shift = text_ahead
        return column + shift

    return "".join(pieces), original_column


class _Compiler:
    """Turns a checked tree into the source of one Python function. The source holds only what this class
    writes: operators, float literals, and names it chose for the objects in `env` (series getters, window
    functions, the names NoData reports); nothing of the user's text reaches it."""

    def __init__(self, vocabulary: Vocabulary, original_column: Callable[[int], int]) -> None:
        self.vocabulary = vocabulary
        self.original_column = original_column
        self.names: set[str] = set()
        self.per_cgroup = False
        self.window_series: list[Series] = []
        self.slope_series: list[Series] = []
        self.longest_window = 0.0
        self.nodes = 0
        self.env: dict[str, object] = dict(_RUNTIME)
        self.reads: dict[str, str] = {}  # local name -> the getter's name: read once, before the body

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        column = getattr(node, "col_offset", None)
        where = f" (at column {self.original_column(column) + 1})" if column is not None else ""
        return ExpressionError(message + where)

    def bind(self, value: object) -> str:
        """A name in the generated code for an object of ours: from its identity, so an object bound by
        several expressions has one name in all of them and their code can run in one function
        (compile_together). The expressions hold their objects, so no two live ones share an identity."""
        name = f"_k{id(value):x}"
        self.env[name] = value
        return name

    def compile(self, node: ast.AST) -> str:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"expression too large (more than {MAX_NODES} parts)")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"{_describe(node)} is not allowed in an expression")
        return method(node)

    def _Expression(self, node: ast.Expression) -> str:
        return self.compile(node.body)

    def _number(self, value: float) -> str:
        return f"({value!r})" if math.isfinite(value) else self.bind(value)

    def _Constant(self, node: ast.Constant) -> str:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise self.fail(node, f"{node.value!r} is not a number")
        try:
            value = float(node.value)
        except OverflowError:
            raise self.fail(node, "number too large") from None
        return self._number(value)

    def _series(self, node: ast.AST) -> Series:
        if not isinstance(node, ast.Name):
            raise self.fail(node, "expected a name like mem_available here")
        series = self.vocabulary.series.get(node.id)
        if series is None:
            raise self.fail(node, self.vocabulary.explain_unknown(node.id))
        self.names.add(node.id)
        self.per_cgroup = self.per_cgroup or series.per_cgroup
        return series

    def _series_expression(self, node: ast.AST) -> Series:
        """The first argument of a window function: names and numbers with + - * /, evaluated at
        every sample of the window (deriv(anon_pages + sunreclaim, 15m))."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"expression too large (more than {MAX_NODES} parts)")
        if isinstance(node, ast.Name):
            return self._series(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            value = float(node.value)
            return Series(repr(value), "constant", False, lambda snap: value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self._series_expression(node.operand)
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            return Series(
                inner.name,
                inner.kind,
                inner.counter,
                lambda snap: None if (v := inner.get(snap)) is None else sign * v,
                inner.per_cgroup,
            )
        if isinstance(node, ast.BinOp) and type(node.op) in (*_ARITH, ast.Div):
            left, right = self._series_expression(node.left), self._series_expression(node.right)
            if left.per_cgroup != right.per_cgroup and "constant" not in (left.kind, right.kind):
                raise self.fail(
                    node, "a window function looks back on one kind of series: cgroup_* names, or machine-wide ones"
                )
            op = _ARITH.get(type(node.op)) or (lambda a, b: a / b if b else None)

            def get(snap: Snapshot) -> float | None:
                a, b = left.get(snap), right.get(snap)
                return None if a is None or b is None else op(a, b)

            per_cgroup = left.per_cgroup or right.per_cgroup
            return Series(ast.unparse(node), "expression", left.counter and right.counter, get, per_cgroup)
        raise self.fail(node, "a window function takes a name, or names and numbers joined by + - * /")

    def _Name(self, node: ast.Name) -> str:
        if node.id in WINDOW_FUNCTIONS or node.id in PLAIN_FUNCTIONS:
            raise self.fail(node, f"{node.id} is a function: call it, like {node.id}(...)")
        series = self._series(node)
        if series.per_cgroup:
            return f"ctx.current({self.bind(series)})"
        # the commonest part of all: the getter called once on the newest snapshot, before the body (a
        # name several rules read is read once for all of them in compile_together); getters return None
        # for what is missing and never raise, so reading one a short-circuit would skip changes nothing
        get, name = self.bind(series.get), self.bind(series.name)
        local = "_v" + get
        self.reads[local] = get
        return f"(_float({local}) if {local} is not None else _nodata({name}))"

    def _UnaryOp(self, node: ast.UnaryOp) -> str:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            return f"(0.0 if {operand} else 1.0)"
        if isinstance(node.op, ast.USub):
            return f"(-{operand})"
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.fail(node, "only 'not', '-' and '+' may stand before a value")

    def _BinOp(self, node: ast.BinOp) -> str:
        left, right = self.compile(node.left), self.compile(node.right)
        if isinstance(node.op, ast.Div):
            return f"_divide({right}, {left})"  # the denominator first, as a zero stops everything
        symbol = _ARITH_SYMBOLS.get(type(node.op))
        if symbol is None:
            raise self.fail(node, f"operator {_describe(node.op)} is not allowed (use + - * /)")
        return f"({left} {symbol} {right})"

    def _BoolOp(self, node: ast.BoolOp) -> str:
        parts = [self.compile(value) for value in node.values]
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return f"(1.0 if ({joiner.join(parts)}) else 0.0)"

    def _never_true(self, node: ast.Compare) -> None:
        """A name compared with a number outside everything the name can hold is a mistake, not a rule
        that waits: `psi_some_avg10 > 10` compares a ratio (0 to 1) with 10 and never fires."""
        if len(node.ops) != 1:
            return
        left, op, right = node.left, type(node.ops[0]), node.comparators[0]
        if isinstance(left, ast.Constant) and isinstance(right, ast.Name):  # 10 < x is x > 10
            left, right = right, left
            op = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}.get(op, op)
        if not (isinstance(left, ast.Name) and _is_number(right)) or left.id not in self.vocabulary.series:
            return
        low, high = value_range(left.id)
        bound = float(right.value)  # type: ignore[attr-defined]
        never = {
            ast.Gt: bound >= high, ast.GtE: bound > high, ast.Lt: bound <= low, ast.LtE: bound < low,
            ast.Eq: not low <= bound <= high,
        }.get(op, False)  # fmt: skip
        if never:
            holds = "a ratio from 0 to 1" if high == 1 else "never below 0"
            hint = f" (write {bound:g}% for {bound:g} percent)" if high == 1 and 1 < bound <= 100 else ""
            raise self.fail(node, f"can never be true: {left.id} is {holds}, compared here with {bound:g}{hint}")

    def _Compare(self, node: ast.Compare) -> str:
        self._never_true(node)
        symbols = []
        for op in node.ops:
            symbol = _COMPARE_SYMBOLS.get(type(op))
            if symbol is None:
                raise self.fail(node, f"comparison {_describe(op)} is not allowed (use < <= > >= == !=)")
            symbols.append(symbol)
        # _first records the left operand as the value an event reports, if no comparison did before
        chain = f"_first(ctx, {self.compile(node.left)})"
        for symbol, comparator in zip(symbols, node.comparators, strict=True):
            chain += f" {symbol} {self.compile(comparator)}"
        return f"(1.0 if {chain} else 0.0)"

    def _Call(self, node: ast.Call) -> str:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only the listed functions can be called")
        name = node.func.id
        if node.keywords:
            raise self.fail(node, f"{name}() takes no keyword arguments")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail(node, f"{name}() takes no * arguments")
        if name in PLAIN_FUNCTIONS:
            fn = PLAIN_FUNCTIONS[name]
            expected = (1, 1) if name == "abs" else (2, 8)
            if not expected[0] <= len(node.args) <= expected[1]:
                raise self.fail(node, f"{name}() takes {'1 argument' if name == 'abs' else '2 or more arguments'}")
            args = [self.compile(arg) for arg in node.args]
            return f"_float({self.bind(fn)}({', '.join(args)}))"
        if name not in WINDOW_FUNCTIONS:
            known = ", ".join([*WINDOW_FUNCTIONS, *PLAIN_FUNCTIONS])
            raise self.fail(node, f"unknown function {name}() (functions: {known})")
        implementation, needs_window = WINDOW_FUNCTIONS[name]
        usage = f"{name}(name, window)" if needs_window else f"{name}(name) or {name}(name, window)"
        if not node.args or len(node.args) > 2 or (needs_window and len(node.args) != 2):
            raise self.fail(node, f"{name}() is called as {usage}, e.g. {name}(pgmajfault, 1m)")
        series = self._series_expression(node.args[0])
        window: float | None = None
        if len(node.args) == 2:
            arg = node.args[1]
            if (
                not isinstance(arg, ast.Constant)
                or isinstance(arg.value, bool)
                or not isinstance(arg.value, (int, float))
            ):
                raise self.fail(arg, f"the window of {name}() must be a duration like 30s or 10m")
            window = float(arg.value)
            if window <= 0:
                raise self.fail(arg, f"the window of {name}() must be longer than 0s")
            self.longest_window = max(self.longest_window, window)
            self.window_series.append(series)
        elif series.per_cgroup:
            self.window_series.append(series)  # a cgroup's previous sample lives only in its window
        bound = self.bind(series)
        if name == "rate" and window is None:
            return f"_rate(ctx.last_step({bound}))"
        seconds = self._number(window or 0.0)
        if name == "deriv":
            self.slope_series.append(series)
            return f"ctx.deriv({bound}, {seconds})"
        return f"{self.bind(implementation)}(ctx.window({bound}, {seconds}))"


def _is_number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access (.)", "Subscript": "indexing ([])", "Lambda": "lambda",
        "ListComp": "a comprehension", "SetComp": "a comprehension", "DictComp": "a comprehension",
        "GeneratorExp": "a comprehension", "List": "a list", "Tuple": "a tuple", "Dict": "a dict",
        "Set": "a set", "JoinedStr": "a string", "IfExp": "if/else", "NamedExpr": ":=", "Await": "await",
        "Pow": "**", "Mod": "%", "FloorDiv": "//", "BitAnd": "&", "BitOr": "|", "BitXor": "^",
        "LShift": "<<", "RShift": ">>", "MatMult": "@", "Is": "is", "IsNot": "is not", "In": "in",
        "NotIn": "not in", "Invert": "~", "Starred": "*", "Yield": "yield", "Slice": "a slice",
    }  # fmt: skip
    return names.get(type(node).__name__, type(node).__name__)


def compile_expression(text: str, vocabulary: Vocabulary) -> Expression:
    """Parse and check `text` against the vocabulary. Raises ExpressionError; never runs user code."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    source, original_column = _substitute_units(text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        detail = exc.msg if exc.msg else "invalid syntax"
        raise ExpressionError(f"not a valid expression: {detail}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("not a valid expression: nested too deeply") from None
    compiler = _Compiler(vocabulary, original_column)
    body = tree.body
    condition = isinstance(body, (ast.Compare, ast.BoolOp)) or (
        isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.Not)
    )
    try:
        body_source = compiler.compile(tree)
        reads = tuple(compiler.reads.items())
        code = compile(_function("_evaluate", reads, [f"    return {body_source}"], compiler.env), "<rule>", "exec")
    except (RecursionError, SyntaxError, MemoryError):  # Python's own limit on nested parentheses
        raise ExpressionError("not a valid expression: nested too deeply") from None
    namespace = dict(compiler.env)
    exec(code, namespace)  # generated from the checked tree: the user's text is not in it
    evaluate = namespace["_evaluate"]
    return Expression(
        text.strip(),
        evaluate,
        frozenset(compiler.names),
        compiler.longest_window,
        tuple(compiler.window_series),
        tuple(compiler.slope_series),
        compiler.per_cgroup,
        condition,
        body_source,
        reads,
        compiler.env,
    )


def _function(name: str, reads: Iterable[tuple[str, str]], lines: list[str], env: dict[str, object]) -> str:
    """Source of `def name(ctx)`: the newest snapshot as `now`, each read assigned once, then `lines`.
    The plain meminfo fields among the reads come from one `pick` of the table (one call, no name
    looked up: the rules run every second on cold caches); their tuple of names is bound in `env`."""
    head = [f"def {name}(ctx):", "    now = ctx.now"]
    fields = [(local, field) for local, getter in reads if (field := getattr(env[getter], MEMINFO_FIELD, None))]
    if fields:
        names = tuple(field for _, field in fields)
        bound = f"_fields_{id(names):x}"
        env[bound] = names  # held by the function's globals: the same object at every pick
        locals_ = ", ".join(local for local, _ in fields)
        head += [
            "    _meminfo = now.meminfo",
            f"    {locals_}, = (None,) * {len(fields)} if _meminfo is None else _meminfo.pick({bound})",
        ]
    picked = {local for local, _ in fields}
    assigned = [f"    {local} = {getter}(now)" for local, getter in reads if local not in picked]
    return "\n".join([*head, *assigned, *lines, ""])


Outcome = tuple[bool | None, float | None]  # true/false (None: no data), the first compared value


def outcome(expression: Expression, ctx: EvalContext) -> Outcome:
    """One expression's outcome on `ctx`, as compile_together gives each of its expressions."""
    ctx.first_compare_value = None
    try:
        result = expression.evaluate(ctx)
    except NoData:
        return None, ctx.first_compare_value
    return bool(result), ctx.first_compare_value


def compile_together(expressions: Sequence[Expression]) -> Callable[[EvalContext], list[Outcome]]:
    """One function evaluating every expression on one context: each name several of them read (most
    rules read mem_total) is read once, and no call per rule around it. Every rule of the daemon runs
    every second on caches gone cold since the last one: a call, a frame and the same reads again per
    rule were a third of the rules' cost. Each expression's NoData stays its own (None, that rule only)."""
    reads: dict[str, str] = {}
    env: dict[str, object] = dict(_RUNTIME)
    lines = ["    out = []", "    add = out.append"]
    for expression in expressions:
        reads.update(expression.reads)
        env.update(expression.env)
        body = expression.body
        if not body:  # made without the compiler (the library's Python conditions): called as it is
            name = f"_e{id(expression.evaluate):x}"
            env[name] = expression.evaluate
            body = f"{name}(ctx)"
        lines += [
            "    ctx.first_compare_value = None",
            "    try:",
            f"        _result = {body}",  # nested no deeper than in its own function
            "        add((_bool(_result), ctx.first_compare_value))",
            "    except _NoData:",
            "        add((None, ctx.first_compare_value))",
        ]
    lines.append("    return out")
    try:
        code = compile(_function("_evaluate_all", reads.items(), lines, env), "<rules>", "exec")
    except (RecursionError, SyntaxError, MemoryError):  # each compiled alone; all of them at once did not
        return lambda ctx: [outcome(expression, ctx) for expression in expressions]
    exec(code, env)  # generated from the checked trees, as each expression's own
    return env["_evaluate_all"]  # type: ignore[return-value]
