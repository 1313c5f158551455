"""Property-based fuzzing (hypothesis): whatever the input, every parser, the config loader and the rule
expression compiler answer with a result or their own error type, never another exception, and in
bounded time.

CI runs the bounded profile (the default). For a long local run: HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import os
import string
from pathlib import Path

import pytest
import yaml
from conftest import ALL_TREES, CURRENT, fixture_pid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memmond import config
from memmond.model.snapshot import Sampler
from memmond.rules import ruleset
from memmond.rules.expr import EvalContext, ExpressionError, NoData, compile_expression
from memmond.rules.names import Vocabulary
from memmond.sources import meminfo, pressure, process, vmstat
from memmond.sources.procfs import ProcFS, SourceError

settings.register_profile("ci", max_examples=150, deadline=500, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20000, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PARSERS = {
    "meminfo": meminfo.parse,
    "vmstat": vmstat.parse,
    "pressure": pressure.parse,
    "status": process.parse_status,
    "smaps_rollup": process.parse_smaps_rollup,
}
REAL_TEXTS = {
    "meminfo": [(tree / "meminfo").read_text() for tree in ALL_TREES],
    "vmstat": [(tree / "vmstat").read_text() for tree in ALL_TREES],
    "pressure": [(tree / "pressure" / "memory").read_text() for tree in ALL_TREES if (tree / "pressure").exists()],
    "status": [(CURRENT / str(fixture_pid(CURRENT)) / "status").read_text()],
    "smaps_rollup": [(CURRENT / str(fixture_pid(CURRENT)) / "smaps_rollup").read_text()],
}


def _parse_or_own_error(name: str, text: str) -> None:
    with contextlib.suppress(SourceError):  # the parser's own error type (ParseError is one)
        PARSERS[name](text)


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.binary(max_size=4096))
def test_parsers_take_arbitrary_bytes(name: str, data: bytes) -> None:
    _parse_or_own_error(name, data.decode("utf-8", "replace"))


@st.composite
def mutated(draw: st.DrawFn, name: str) -> str:
    """A real capture with random lines cut, duplicated, truncated or garbled: the kernel of tomorrow."""
    lines = draw(st.sampled_from(REAL_TEXTS[name])).splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 8))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "cut", "garble", "insert"]))
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "cut":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        elif action == "garble":
            lines[index] = draw(st.text(max_size=60)) + "\n"
        else:
            lines.insert(index, draw(st.text(string.printable, max_size=60)))
    return "".join(lines)


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.data())
def test_parsers_take_mutated_real_captures(name: str, data: st.DataObject) -> None:
    _parse_or_own_error(name, data.draw(mutated(name)))


SLOW_PARSERS = {
    "meminfo": meminfo._parse_lines,
    "vmstat": lambda text: vmstat._parse_slow(text.splitlines()),
    "pressure": pressure._parse_lines,
}


def _values(parsed: object) -> object:
    if isinstance(parsed, pressure.Pressure):
        return (parsed.some, parsed.full)
    return (dict(parsed.items()), getattr(parsed, "count_fields", None))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SLOW_PARSERS))
@given(data=st.data())
def test_fast_paths_read_what_the_line_parsers_read(name: str, data: st.DataObject) -> None:
    """The fast paths (a cached layout, a regex, json for integers) are shortcuts, never other answers:
    on a real capture and then on a mutation of it (the cached layout is warm), the values are the line
    parser's whenever the line parser skips nothing."""
    for text in (data.draw(st.sampled_from(REAL_TEXTS[name])), data.draw(mutated(name))):
        try:
            slow = SLOW_PARSERS[name](text)
        except SourceError:
            continue
        if slow.skipped:
            continue
        assert _values(PARSERS[name](text)) == _values(slow)


# -- config ---------------------------------------------------------------------------------------------

KEYS = [
    "interval",
    "listen",
    "history_size",
    "extremes_window",
    "logging",
    "level",
    "target",
    "pressure",
    "levels",
    "psi",
    "rules",
    "name",
    "expr",
    "for",
    "clear",
    "keep_firing_for",
    "severity",
    "labels",
    "summary",
    "builtin_rules",
    "enabled",
    "overrides",
    "watch",
    "files",
    "processes",
    "medium",
    "enter",
    "exit",
    "kind",
    "window",
    "above",
    "below",
    "pidfile",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["1s", "500ms", "10%", ":9847", "mem_total > 0", "info", "low_memory", "/tmp/x", "high"]),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), children, max_size=6),
    ),
    max_leaves=30,
)
VOCABULARY = Vocabulary.build(Sampler(ProcFS(CURRENT)).capture(), {"dirty_ratio": 20, "overcommit_memory": 0})


def _load_or_config_error(text: str) -> None:
    try:
        cfg = config.parse(text, "fuzz.yaml")
        ruleset.build(cfg, VOCABULARY)
    except config.ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)


@given(document=DOCUMENTS)
def test_config_loader_takes_arbitrary_yaml_documents(document: object) -> None:
    _load_or_config_error(yaml.safe_dump(document))


@given(text=st.text(max_size=500))
def test_config_loader_takes_arbitrary_text(text: str) -> None:
    _load_or_config_error(text)


# -- expressions ----------------------------------------------------------------------------------------

TOKENS = [
    "mem_total",
    "mem_available",
    "dirty",
    "pgmajfault",
    "psi_some_avg10",
    "vm_dirty_ratio",
    "rate",
    "delta",
    "deriv",
    "min_over",
    "max_over",
    "avg_over",
    "abs",
    "min",
    "max",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "/",
    "**",
    "%",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "and",
    "or",
    "not",
    "10%",
    "512MiB",
    "30s",
    "1e308",
    "0",
    "1",
    ".",
    "[",
    "]",
    "lambda",
    ":",
    "__import__",
    "'os'",
    "__class__",
    "if",
    "else",
    "for",
    "in",
    " ",
]


@given(parts=st.lists(st.sampled_from(TOKENS), max_size=30))
def test_expression_compiler_takes_token_soup(parts: list[str]) -> None:
    _compile_and_maybe_evaluate(" ".join(parts))


@given(text=st.text(max_size=200))
def test_expression_compiler_takes_arbitrary_strings(text: str) -> None:
    _compile_and_maybe_evaluate(text)


HISTORY = [Sampler(ProcFS(CURRENT)).capture() for _ in range(3)]


def _compile_and_maybe_evaluate(text: str) -> None:
    marker = Path("/tmp/memmond-fuzz-was-here")
    try:
        expression = compile_expression(text, VOCABULARY)
    except ExpressionError:
        return
    try:
        value = expression.evaluate(EvalContext(HISTORY, 1.0))
    except NoData:
        return
    assert isinstance(value, float)
    assert not marker.exists()  # nothing the text said was run
