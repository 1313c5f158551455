"""From a validated Config to the rules the engine runs: the built-in pack with its overrides, then the
config's own rules, each compiled against this kernel's vocabulary.

Problems come out as ConfigError lines in the config's own form (`file:line:col: rules[1].expr: ...`).
A built-in rule this machine cannot evaluate (no PSI, window longer than the history) is skipped with
the reason in `Ruleset.skipped`; the same mistake in a user's rule is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from memmond import config as config_mod
from memmond import format as fmt
from memmond.config import Config, ConfigError, Located, RuleConfig
from memmond.model.snapshot import Sampler
from memmond.rules.builtin import builtin_rules
from memmond.rules.engine import Rule
from memmond.rules.expr import Expression, ExpressionError, compile_expression
from memmond.rules.names import MEMINFO_FIELD, Series, Vocabulary
from memmond.rules.template import Template, TemplateError, compile_template
from memmond.sources import vmstat, vmtunables
from memmond.sources.procfs import ProcFS

BUILTIN_WHERE = "<built-in>"


@dataclass
class Ruleset:
    rules: list[Rule]
    vocabulary: Vocabulary
    tunables: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)  # built-in rule -> why it does not run here

    def _read(self) -> Iterator[Series]:
        series = self.vocabulary.series
        for rule in self.rules:
            for expression in (rule.expr, rule.clear):
                if expression is not None:
                    yield from (series[name] for name in expression.names if name in series)

    def meminfo_fields(self) -> frozenset[str]:
        """The /proc/meminfo fields its rules read by name: what a sample in the history must keep for their
        windows (mem_available and the derived names read fields the history keeps anyway)."""
        return frozenset(field for s in self._read() if (field := getattr(s.get, MEMINFO_FIELD, None)))

    def vmstat_fields(self) -> frozenset[str]:
        """The /proc/vmstat fields its rules read, in every spelling a kernel may use: what a sample in
        the history must keep for their windows."""
        return frozenset(spelling for s in self._read() if s.kind == "vmstat" for spelling in vmstat.spellings(s.name))


class _Unusable(Exception):
    """A built-in rule this machine cannot run; not the user's mistake."""


def _expression(located: Located, vocabulary: Vocabulary, config: Config, builtin: bool) -> Expression:
    try:
        expression = compile_expression(located.text, vocabulary)
    except ExpressionError as exc:
        if builtin:  # every built-in compiles on a current kernel (tested); here a name is missing
            raise _Unusable(str(exc)) from None
        raise ExpressionError(f"{located.where}: {located.path}: {exc}") from None
    if not expression.condition and not builtin:
        raise ExpressionError(
            f"{located.where}: {located.path}: {located.text.strip()!r} is a value, not a condition: compare it, "
            "like mem_available < 1GiB or rate(pgmajfault) > 100"
        )
    if expression.longest_window > config.history_seconds:
        message = (
            f"a window of {fmt.duration(expression.longest_window)} reaches further back than the history keeps: "
            f"history_size {config.history_size} x interval {config.interval_seconds:g}s = "
            f"{fmt.duration(config.history_seconds)}"
        )
        if builtin:
            raise _Unusable(message)
        raise ExpressionError(f"{located.where}: {located.path}: {message}")
    return expression


def _template(located: Located | None, vocabulary: Vocabulary, builtin: bool, per_cgroup: bool) -> Template | None:
    if located is None:
        return None
    try:
        return compile_template(located.text, vocabulary, per_cgroup)
    except TemplateError as exc:
        if builtin:
            raise _Unusable(str(exc)) from None
        raise ExpressionError(f"{located.where}: {located.path}: {exc}") from None


def _builtin_config(definition: dict[str, str]) -> RuleConfig:
    from memmond.config import parse_duration

    name = definition["name"]

    def located(key: str) -> Located | None:
        text = definition.get(key)
        return Located(text, BUILTIN_WHERE, f"builtin_rules.{name}.{key}") if text is not None else None

    return RuleConfig(
        path=f"builtin_rules.{name}",
        where=BUILTIN_WHERE,
        name=name,
        expr=located("expr"),
        clear=located("clear"),
        summary=located("summary"),
        for_seconds=parse_duration(definition["for"]) if "for" in definition else None,
        keep_firing_for_seconds=parse_duration(definition["keep_firing_for"])
        if "keep_firing_for" in definition
        else None,
        severity=definition.get("severity"),
        for_each=definition.get("for_each"),
    )


# The fields an override may set on a built-in rule.
_OVERRIDABLE = ("expr", "clear", "summary", "for_seconds", "keep_firing_for_seconds", "severity", "labels", "record")


def _merge(base: RuleConfig, override: RuleConfig) -> tuple[RuleConfig, set[str]]:
    """The built-in with the override's fields on top; returns which fields the user wrote."""
    written = {key for key in _OVERRIDABLE if getattr(override, key) is not None}
    merged = {key: getattr(override if key in written else base, key) for key in _OVERRIDABLE}
    # clear and keep_firing_for exclude each other: the one the user wrote wins over the built-in's.
    if "clear" in written and "keep_firing_for_seconds" not in written:
        merged["keep_firing_for_seconds"] = None
    if "keep_firing_for_seconds" in written and "clear" not in written:
        merged["clear"] = None
    merged_rule = RuleConfig(path=base.path, where=override.where, name=base.name, for_each=base.for_each, **merged)
    return merged_rule, written


def _compile(
    rule: RuleConfig, vocabulary: Vocabulary, config: Config, origin: str, written: set[str] | None = None
) -> Rule:
    """A Rule, or ExpressionError with the config location, or _Unusable for a built-in this machine
    cannot run. Fields an override wrote are the user's: their mistakes are errors, not skips."""

    def builtin_field(key: str) -> bool:
        return origin == "builtin" and (written is None or key not in written)

    assert rule.expr is not None and rule.name is not None
    per_cgroup = rule.for_each == "cgroup"
    expr = _expression(rule.expr, vocabulary, config, builtin_field("expr"))
    clear = _expression(rule.clear, vocabulary, config, builtin_field("clear")) if rule.clear else None
    if per_cgroup and not expr.per_cgroup:
        raise ExpressionError(
            f"{rule.expr.where}: {rule.expr.path}: a rule with 'for_each: cgroup' looks at each cgroup: use a "
            "cgroup_* name (cgroup_memory, cgroup_memory_max, cgroup_psi_some_avg10, ...)"
        )
    for located, expression in ((rule.expr, expr), (rule.clear, clear)):
        if located is not None and expression is not None and expression.per_cgroup and not per_cgroup:
            used = sorted(n for n in expression.names if vocabulary.series[n].per_cgroup)
            raise ExpressionError(
                f"{located.where}: {located.path}: {', '.join(used)} is a value of each cgroup: add "
                "'for_each: cgroup' to the rule"
            )
    summary = _template(rule.summary, vocabulary, builtin_field("summary"), per_cgroup)
    return Rule(
        name=rule.name,
        expr=expr,
        severity=rule.severity or "warning",
        for_seconds=rule.for_seconds or 0.0,
        keep_firing_for_seconds=rule.keep_firing_for_seconds or 0.0,
        clear=clear,
        labels=rule.labels or (),
        summary=summary,
        origin=origin,
        for_each=rule.for_each,
        record=bool(rule.record),
    )


def build(config: Config, vocabulary: Vocabulary, tunables: dict[str, int] | None = None) -> Ruleset:
    problems: list[str] = []
    rules: list[Rule] = []
    skipped: dict[str, str] = {}
    builtins = {d["name"]: _builtin_config(d) for d in builtin_rules(config.history_seconds)}

    overrides = {override.name: override for override in config.builtin_overrides}
    for name, override in overrides.items():
        if name not in builtins:
            import difflib

            close = difflib.get_close_matches(name or "", list(builtins), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (built-in rules: {', '.join(builtins)})"
            problems.append(f"{override.where}: {override.path}: no built-in rule is called {name!r}{hint}")

    active_builtins: set[str] = set()
    if config.builtin_rules_enabled:
        for name, base in builtins.items():
            override = overrides.get(name)
            written: set[str] = set()
            if override is not None:
                if override.enabled is False:
                    skipped[name] = "disabled in the config"
                    continue
                base, written = _merge(base, override)
            if base.for_each == "cgroup" and not config.cgroups.enabled:
                skipped[name] = "cgroups are disabled in the config (cgroups.enabled)"
                continue
            try:
                rules.append(_compile(base, vocabulary, config, "builtin", written))
                active_builtins.add(name)
            except _Unusable as exc:
                skipped[name] = str(exc)
            except ExpressionError as exc:
                problems.append(str(exc))

    for rule in config.rules:
        if rule.name in active_builtins:
            problems.append(
                f"{rule.where}: {rule.path}.name: {rule.name!r} is a built-in rule; change it under "
                f"builtin_rules.overrides.{rule.name}, or disable it there with 'enabled: false'"
            )
            continue
        if rule.for_each == "cgroup" and not config.cgroups.enabled:
            problems.append(f"{rule.where}: {rule.path}.for_each: needs cgroups (set cgroups.enabled: true)")
            continue
        try:
            rules.append(_compile(rule, vocabulary, config, "config"))
        except ExpressionError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(problems)
    return Ruleset(rules, vocabulary, dict(tunables or {}), skipped)


def load(config: Config, procfs: ProcFS, sysfs: ProcFS | None = None) -> Ruleset:
    """Read this machine's kernel (one sample, /proc/sys/vm, the NUMA nodes under `sysfs`) and build the
    ruleset for it."""
    tunables, _problems = vmtunables.read(procfs)
    vocabulary = Vocabulary.build(Sampler(procfs, sysfs).capture(), tunables)
    return build(config, vocabulary, tunables)


def _file_order(problem: str) -> tuple[int, int]:
    found = re.match(r".*?:(\d+):(\d+): ", problem)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def load_config(
    path: str | Path | None,
    procfs: ProcFS,
    adjust: Callable[[Config], Config] | None = None,
    sysfs: ProcFS | None = None,
) -> tuple[Config, Ruleset]:
    """The config at `path` and its rules, or one ConfigError with every problem of both in file order:
    a structural mistake (a bad `for:`, an unknown key) must not hide a bad expression until the next run.
    `adjust` applies command-line overrides before the rules are built."""
    try:
        config = config_mod.load(path)
        structural: list[str] = []
    except ConfigError as exc:
        if exc.partial is None:
            raise
        config, structural = exc.partial, exc.problems
    if adjust is not None:
        config = adjust(config)
    try:
        rules = load(config, procfs, sysfs)
    except ConfigError as exc:
        raise ConfigError(sorted(structural + exc.problems, key=_file_order)) from None
    if structural:
        raise ConfigError(structural)
    return config, rules
