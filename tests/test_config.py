"""Config loading: golden error messages (file:line:col, key path, suggestion), defaults, the embedded
file, `memmond check-config`. Rules are compiled against a captured kernel so messages are stable."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CURRENT, FIXTURES, OLD_3_10, run_memmond

from memmond import config
from memmond.config import DEFAULT_LEVELS
from memmond.rules import ruleset
from memmond.sources.procfs import ProcFS


def problems(text: str) -> list[str]:
    try:
        cfg = config.parse(text, "m.yaml")
        ruleset.load(cfg, ProcFS(CURRENT))
    except config.ConfigError as exc:
        return exc.problems
    return []


GOLDEN = [
    ("histroy_size: 5\n", "m.yaml:1:1: histroy_size: unknown key (did you mean 'history_size'?)"),
    ("interval: soon\n", "m.yaml:1:11: interval: expected a duration like 30s, got 'soon'"),
    ("interval: 5m\n", "m.yaml:1:11: interval: must be between 0.1s and 60s, got '5m'"),
    ("listen: 9847\n", "m.yaml:1:9: listen: expected HOST:PORT like :9847 or 127.0.0.1:9847, got 9847"),
    ("interval: [1s\n", "m.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("interval: 1s\ninterval: 2s\n", "m.yaml:2:1: interval: duplicate key"),
    ("logging:\n  levle: debug\n", "m.yaml:2:3: logging.levle: unknown key (did you mean 'level'?)"),
    (
        "logging:\n  level: loud\n",
        "m.yaml:2:10: logging.level: expected one of debug, info, warning, error, got 'loud'",
    ),
    ("- interval: 1s\n", "m.yaml:1:1: (top level): expected a mapping of keys, like 'interval: 1s'"),
    ("rules:\n  - name: a\n", "m.yaml:2:5: rules[0]: a rule needs 'expr'"),
    (
        "rules:\n  - name: low memory\n    expr: mem_total > 0\n",
        "m.yaml:2:11: rules[0].name: expected a name of letters, digits and _, like low_memory, got 'low memory'",
    ),
    (
        "rules:\n  - name: a\n    expr: mem_total > 0\n  - name: b\n    expr: x > 0\n  - name: c\n    expr: dirty > 0\n"
        "    for: soon\n",
        "m.yaml:8:10: rules[2].for: expected a duration like 30s, got 'soon'",
    ),
    (
        "rules:\n  - name: a\n    expr: mem_availble < 1GiB\n",
        "m.yaml:3:11: rules[0].expr: unknown name 'mem_availble' (did you mean 'mem_available'",
    ),
    (
        "rules:\n  - name: a\n    expr: mem_total.__class__\n",
        "m.yaml:3:11: rules[0].expr: attribute access (.) is not allowed in an expression (at column 1)",
    ),
    (
        "rules:\n  - name: a\n    expr: \"__import__('os').system('id')\"\n",
        "m.yaml:3:11: rules[0].expr: only the listed functions can be called (at column 1)",
    ),
    (
        "rules:\n  - name: a\n    expr: max_over(dirty, 30m) > 1GiB\n",
        "m.yaml:3:11: rules[0].expr: a window of 30m reaches further back than the history keeps: "
        "history_size 1000 x interval 1s = 16m 40s",
    ),
    (
        "rules:\n  - name: a\n    expr: dirty > 0\n    clear: dirty == 0\n    keep_firing_for: 1m\n",
        "m.yaml:2:5: rules[0]: use either 'clear' or 'keep_firing_for', not both",
    ),
    (
        "rules:\n  - name: a\n    expr: dirty > 0\n    severity: page\n",
        "m.yaml:4:15: rules[0].severity: expected one of info, warning, critical, got 'page'",
    ),
    (
        "rules:\n  - name: a\n    expr: dirty > 0\n    labels: {severity: high}\n",
        "m.yaml:4:14: rules[0].labels.severity: 'severity' is set by memmond and cannot be a label",
    ),
    (
        "rules:\n  - name: a\n    expr: dirty > 0\n    summary: '{{ dirty | shout }}'\n",
        "m.yaml:4:14: rules[0].summary: {{ dirty | shout }}: unknown filter 'shout'",
    ),
    (
        "rules:\n  - name: a\n    expr: dirty > 0\n  - name: a\n    expr: dirty > 1\n",
        "m.yaml:4:5: rules[1].name: 'a' is already defined at m.yaml:2:5",
    ),
    (
        "rules:\n  - name: low_memory\n    expr: dirty > 0\n",
        "m.yaml:2:5: rules[0].name: 'low_memory' is a built-in rule; change it under builtin_rules.overrides",
    ),
    (
        "builtin_rules:\n  overrides:\n    low_memmory: {for: 1m}\n",
        "m.yaml:3:18: builtin_rules.overrides.low_memmory: no built-in rule is called 'low_memmory' "
        "(did you mean 'low_memory'?)",
    ),
    (
        "builtin_rules:\n  overrides:\n    oom_kill: {expr: rate(oom_kil) > 0}\n",
        "m.yaml:3:22: builtin_rules.overrides.oom_kill.expr: unknown name 'oom_kil' (did you mean 'oom_kill'",
    ),
    (
        "pressure:\n  levels:\n    high: {enter: 20%, exit: 15%}\n",
        "m.yaml:3:11: pressure.levels.high: exit (15%) must be above enter (20%), or the level could never be left",
    ),
    (
        "pressure:\n  levels:\n    medium: {enter: 10%, exit: 12%}\n",
        "m.yaml:2:3: pressure.levels: enter thresholds must fall from medium to critical (got medium 10%, high 20%",
    ),
    (
        "pressure:\n  psi:\n    - {kind: half, window: 10s, above: 10%, level: high}\n",
        "m.yaml:3:14: pressure.psi[0].kind: expected one of some, full, got 'half'",
    ),
]


@pytest.mark.parametrize(("text", "message"), GOLDEN, ids=[str(i) for i in range(len(GOLDEN))])
def test_golden_error_messages(text: str, message: str) -> None:
    found = problems(text)
    assert any(problem.startswith(message) for problem in found), found


def test_an_invalid_value_is_reported_once() -> None:
    found = problems("pressure:\n  psi:\n    - {kind: half, window: 10s, above: 10%, level: high}\n")
    assert len(found) == 1, found


def test_all_problems_of_a_file_come_at_once() -> None:
    text = "interval: soon\nlisten: nowhere\nrules:\n  - name: a\n    expr: mem_totl > 0\n"
    found = problems(text)
    assert len(found) == 2  # structure first; rules are compiled once the structure is valid
    text = "rules:\n  - name: a\n    expr: mem_totl > 0\n  - name: b\n    expr: dirty >\n"
    assert [p.split(":")[1] for p in problems(text)] == ["3", "5"]


def test_defaults_and_the_embedded_file() -> None:
    embedded = config.parse(config.embedded_text(), config.EMBEDDED_NAME)
    assert embedded.interval_seconds == 1.0
    assert embedded.listen == config.Listen("", 9847)
    assert embedded.history_size == 1000
    assert embedded.levels == DEFAULT_LEVELS
    assert embedded.builtin_rules_enabled and embedded.rules == ()
    assert config.parse("", "empty.yaml").history_size == 1000
    rules = ruleset.load(embedded, ProcFS(CURRENT))
    assert len(rules.rules) == 19 and list(rules.skipped) == ["numa_node_exhausted"]  # needs two NUMA nodes
    two_nodes = ruleset.load(embedded, ProcFS(CURRENT), ProcFS(FIXTURES / "sysfs-two-nodes"))
    assert len(two_nodes.rules) == 20 and two_nodes.skipped == {}  # every built-in runs on a current NUMA host


def test_overrides_change_and_disable_builtins() -> None:
    cfg = config.parse(
        "builtin_rules:\n  overrides:\n    low_memory: {for: 5m, severity: critical, labels: {team: infra}}\n"
        "    high_cache_growth: {enabled: false}\n    high_dirty_pages: {keep_firing_for: 2m}\n",
        "m.yaml",
    )
    rules = {r.name: r for r in ruleset.load(cfg, ProcFS(CURRENT)).rules}
    assert rules["low_memory"].for_seconds == 300 and rules["low_memory"].severity == "critical"
    assert rules["low_memory"].labels == (("team", "infra"),)
    assert rules["low_memory"].clear is not None  # untouched fields keep the built-in's
    assert "high_cache_growth" not in rules
    assert rules["high_dirty_pages"].clear is None and rules["high_dirty_pages"].keep_firing_for_seconds == 120
    assert not ruleset.load(config.parse("builtin_rules: {enabled: false}\n", "m"), ProcFS(CURRENT)).rules


def test_builtins_that_need_what_an_old_kernel_lacks_are_skipped_with_reasons() -> None:
    rules = ruleset.load(config.parse("", "m.yaml"), ProcFS(OLD_3_10))
    assert "psi_some_stall" in rules.skipped and "this kernel has no PSI" in rules.skipped["psi_some_stall"]
    assert "oom_kill" in rules.skipped
    assert {r.name for r in rules.rules} >= {"low_memory", "critical_low_memory", "high_dirty_pages"}


def test_check_config_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("interval: 2s\nrules:\n  - name: any\n    expr: mem_total > 0\n")
    result = run_memmond("--procfs", str(CURRENT), "check-config", str(good))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{good}: OK (19 built-in and 1 configured rules)")

    bad = tmp_path / "bad.yaml"
    bad.write_text("interval: soon\nhistroy_size: 5\n")
    result = run_memmond("check-config", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}:1:11: interval: expected a duration like 30s, got 'soon'",
        f"{bad}:2:1: histroy_size: unknown key (did you mean 'history_size'?)",
        "FAILED: 2 problem(s)",
    ]
    missing = run_memmond("check-config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr

    result = run_memmond("--procfs", str(CURRENT), "check-config", "config/memmond.yaml")
    assert result.returncode == 0, result.stderr


def test_check_config_reports_structure_and_expression_problems_in_one_run(tmp_path: Path) -> None:
    """Seen: a structural error hid every expression error (and an override's typo) until a second run."""
    config = tmp_path / "memmond.yaml"
    config.write_text(
        "interval: soon\n"
        "builtin_rules:\n"
        "  overrides:\n"
        "    low_memroy: {for: 1m}\n"
        "rules:\n"
        "  - name: typo\n"
        "    expr: mem_avialable < 1GiB\n"
        "  - name: syntax\n"
        "    expr: mem_available <\n"
        "  - name: sneaky\n"
        "    expr: __import__('os')\n"
        "  - name: far\n"
        "    expr: delta(mem_available, 2h) > 0\n"
        "  - name: ratio\n"
        "    expr: psi_some_avg10 > 10\n"
        "  - name: value\n"
        "    expr: mem_available\n"
        "  - name: fine\n"
        "    expr: mem_available < 0\n"
        "    for: often\n"
    )
    result = run_memmond("--procfs", str(CURRENT), "check-config", str(config))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "FAILED: 10 problem(s)", result.stderr
    expected = [
        (1, "interval: expected a duration"),
        (4, "no built-in rule is called 'low_memroy' (did you mean 'low_memory'?)"),
        (7, "rules[0].expr: unknown name 'mem_avialable'"),
        (9, "rules[1].expr: not a valid expression"),
        (11, "rules[2].expr: unknown function __import__()"),
        (13, "rules[3].expr: a window of 2h"),
        (15, "rules[4].expr: can never be true: psi_some_avg10 is a ratio from 0 to 1, compared here with 10 "
         "(write 10% for 10 percent)"),
        (17, "rules[5].expr: 'mem_available' is a value, not a condition"),
        (19, "rules[6].expr: can never be true: mem_available is never below 0"),
        (20, "rules[6].for: expected a duration"),
    ]  # fmt: skip
    assert len(lines) == len(expected) + 1, result.stderr
    for line, (number, text) in zip(lines, expected, strict=False):
        assert line.startswith(f"{config}:{number}:") and text in line, (line, number, text)


def test_a_reload_with_a_structural_mistake_names_the_bad_expression_too(tmp_path: Path) -> None:
    path = tmp_path / "memmond.yaml"
    path.write_text("history_size: many\nrules:\n  - name: x\n    expr: mem_total ** 2 > 0\n")
    with pytest.raises(config.ConfigError) as caught:
        ruleset.load_config(path, ProcFS(CURRENT))
    assert [p.split(": ")[1] for p in caught.value.problems] == ["history_size", "rules[0].expr"]
