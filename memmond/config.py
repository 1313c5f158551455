"""The YAML configuration: loaded with line/column marks, validated strictly into a frozen Config.

Every error names file, line, column and key path (`memmond.yaml:7:10: rules[2].for: expected a duration
like 30s, got 'soon'`), and all errors of a file are reported at once, so an operator fixes a config in
one round. A config that fails to load never replaces a running one.

This module checks structure and values. Rule expressions are compiled against the running kernel's
vocabulary in `memmond.rules.ruleset`, which reports its problems in the same form.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from memmond import format as fmt
from memmond.model.watch import MAX_WATCHED_FILES, MAX_WATCHED_PROCESSES, ProcessWatch

DEFAULT_CONFIG_PATH = Path("/etc/memmond/memmond.yaml")
EMBEDDED_NAME = "<embedded default>"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_TARGETS = ("auto", "journal", "stderr")
SEVERITIES = ("info", "warning", "critical")
RULE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = ("rule", "severity", "cgroup", "unit")
FOR_EACH = ("cgroup",)
MAX_PSI_TRIGGERS = 64
MAX_RECORDER_POINTS = 100_000  # what a rule can be evaluated once per
MAX_RULES = 200


# Pressure levels, worst last. The types live here, not in rules/levels, because the config carries them
# and the rules stage is built from the config (sources <- model <- config <- rules).
LEVELS = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Threshold:
    """Enter `level` when the available ratio is at or below `enter`; leave it when above `exit`."""

    level: str
    enter: float
    exit: float


@dataclass(frozen=True)
class PsiFloor:
    """While PSI `kind` avg`window` is above `above` (and until it falls below `below`), the level is at
    least `level`."""

    kind: str
    window: str
    above: float
    below: float
    level: str


@dataclass(frozen=True)
class LevelConfig:
    thresholds: tuple[Threshold, ...]  # medium, high, critical: worse levels, lower ratios
    psi: tuple[PsiFloor, ...]


# The seed's levels (low above 0.5, medium above 0.2, high above 0.1, else critical), with 2 points of
# hysteresis, and PSI floors after what oomd and systemd-oomd treat as trouble.
DEFAULT_LEVELS = LevelConfig(
    thresholds=(
        Threshold("medium", 0.50, 0.52),
        Threshold("high", 0.20, 0.22),
        Threshold("critical", 0.10, 0.12),
    ),
    psi=(
        PsiFloor("full", "10", 0.10, 0.05, "high"),
        PsiFloor("some", "10", 0.20, 0.10, "medium"),
    ),
)


class ConfigError(Exception):
    """One or more problems in a config file; str() is every problem, one per line."""

    def __init__(self, problems: list[str], partial: Config | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        # What did parse, so the rules' expressions can be checked too and every problem said in one run.
        self.partial = partial


@dataclass(frozen=True)
class Listen:
    host: str  # "" means every address, IPv6 and IPv4
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class HttpLimits:
    """How long and how many: the server's defences against idle, slow and flooding clients."""

    max_connections: int = 10_000  # open at once; past this the longest-waiting idle one is closed
    header_timeout_seconds: float = 10.0  # a request head must be complete within this of its first byte
    idle_timeout_seconds: float = 120.0  # silence between kept-alive requests (covers 1 m scrape intervals)
    write_timeout_seconds: float = 30.0  # a response must be read by the client within this


@dataclass(frozen=True)
class CgroupConfig:
    """Which cgroups the daemon reads and exposes. Every exposed cgroup costs series on every host of a fleet,
    hence the cap: past max_cgroups the largest by memory are kept and the rest summed into "other"."""

    enabled: bool = True
    max_depth: int = 3
    include: tuple[str, ...] = ()  # globs on the path; empty: units and container ids
    exclude: tuple[str, ...] = ()
    max_cgroups: int = 50
    detail: str = "basic"  # basic: at most 12 series a cgroup; full: every memory.stat and memory.events field
    interval_seconds: float | None = None  # None: every sample


# Groups of series a host may already get from node_exporter (node_memory_*, node_vmstat_*,
# node_pressure_memory_*): `exposition.families` switches them off so a fleet does not pay twice.
FAMILY_GROUPS = ("meminfo", "vmstat", "pressure")


@dataclass(frozen=True)
class SystemConfig:
    """The memory subsystems beyond /proc/meminfo (NUMA, huge pages, THP, KSM, zram, zswap, the ZFS ARC):
    read at their own, slower interval, since they move slowly and every read costs every host."""

    enabled: bool = True
    interval_seconds: float = 15.0


@dataclass(frozen=True)
class PsiTriggerConfig:
    """A PSI trigger: wake when tasks stall `stall_seconds` within `window_seconds` (machine, or a cgroup)."""

    kind: str = "some"
    stall_seconds: float = 0.15
    window_seconds: float = 2.0
    cgroup: str | None = None


@dataclass(frozen=True)
class EventsConfig:
    """Memory events: what wakes the daemon the moment memory stalls, and what it keeps of each event."""

    psi_triggers: tuple[PsiTriggerConfig, ...] = (PsiTriggerConfig(),)
    record: bool = True  # the flight recorder and event records
    recorder_seconds: float = 60.0  # how far back a record reaches before its first trigger
    recorder_interval_seconds: float | None = None  # None: a point per sample, read anyway (no extra cost)
    fast_interval_seconds: float = 0.1  # after a trigger: a point this often, vmstat included
    fast_seconds: float = 10.0  # fast mode after each trigger; the event closes when it ends
    directory: str | None = None  # where records go when $STATE_DIRECTORY is not set
    max_records: int = 100
    max_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class Located:
    """A text from the config with where it stands, so a later stage can point at it."""

    text: str
    where: str  # "file:line:col"
    path: str  # "rules[2].expr"


@dataclass(frozen=True)
class RuleConfig:
    """A rule as written (user rule, or a built-in's override): fields absent are None."""

    path: str
    where: str
    name: str | None = None
    expr: Located | None = None
    clear: Located | None = None
    summary: Located | None = None
    for_seconds: float | None = None
    keep_firing_for_seconds: float | None = None
    severity: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None
    enabled: bool | None = None
    for_each: str | None = None  # "cgroup": one state machine per watched cgroup
    record: bool | None = None  # firing opens a memory event (flight recorder record)


@dataclass(frozen=True)
class Config:
    interval_seconds: float = 1.0
    listen: Listen = field(default_factory=lambda: Listen("", 9847))
    history_size: int = 1000
    extremes_window_seconds: float = 60.0
    log_level: str = "info"
    log_target: str = "auto"
    levels: LevelConfig = DEFAULT_LEVELS
    rules: tuple[RuleConfig, ...] = ()
    builtin_rules_enabled: bool = True
    builtin_overrides: tuple[RuleConfig, ...] = ()
    watch_interval_seconds: float = 15.0
    watch_files: tuple[str, ...] = ()
    watch_processes: tuple[ProcessWatch, ...] = ()
    http: HttpLimits = field(default_factory=HttpLimits)
    vmstat_exported: str = "default"  # exposition.vmstat: default (an allow-list) or all
    families_off: frozenset[str] = frozenset()  # exposition.families set to false: groups not exported
    cgroups: CgroupConfig = field(default_factory=CgroupConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    system: SystemConfig = field(default_factory=SystemConfig)
    source: str = EMBEDDED_NAME

    @property
    def history_seconds(self) -> float:
        """How far back the history reaches: the longest window a rule may use."""
        return self.history_size * self.interval_seconds


# -- value parsers: each returns the value or raises ValueError with the text users see -----------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_duration(value: Any) -> float:
    """'30s', '500ms', '2m', '1h', or a bare number of seconds."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a duration like 30s, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"expected a duration like 30s, got {value!r}")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration like 30s, got {value!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_ratio(value: Any) -> float:
    """'10%' or 0.1: a share from 0 to 1."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a share like 10% or 0.1, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = _RATIO.match(str(value))
        if not match:
            raise ValueError(f"expected a share like 10% or 0.1, got {value!r}")
        number = float(match.group(1)) / 100
    if not 0 <= number <= 1:
        raise ValueError(f"must be between 0% and 100%, got {value!r}")
    return number


def parse_listen(value: Any) -> Listen:
    """':9847' (all addresses), '127.0.0.1:9847', '[::1]:9847', 'localhost:9847'."""
    text = str(value)
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"expected HOST:PORT like :9847 or 127.0.0.1:9847, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"IPv6 addresses need brackets, like [::1]:9847, got {value!r}")
    return Listen(host, int(port_text))


def _ranged(parse: Callable[[Any], float], low: float, high: float, unit: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        number = parse(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g}{unit} and {high:g}{unit}, got {value!r}")
        return number

    return check


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(f"expected text, got {value!r}")
    return str(value)


def _rule_name(value: Any) -> str:
    if not isinstance(value, str) or not RULE_NAME.match(value):
        raise ValueError(f"expected a name of letters, digits and _, like low_memory, got {value!r}")
    return value


# -- the walker -----------------------------------------------------------------------------------------

_INVALID = object()


class _Walker:
    """Validates a composed YAML node tree; every problem names the node's line and column."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[str] = []

    def where(self, node: yaml.Node) -> str:
        return f"{self.name}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    def error(self, node: yaml.Node, path: str, message: str) -> object:
        self.problems.append(f"{self.where(node)}: {path}: {message}")
        return _INVALID

    def scalar(self, node: yaml.Node, path: str, check: Callable[[Any], Any]) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self.error(node, path, "expected a single value, not a list or mapping")
        try:
            value = yaml.safe_load(yaml.serialize(node))
        except yaml.YAMLError as exc:
            return self.error(node, path, f"invalid value: {exc}")
        try:
            return check(value)
        except ValueError as exc:
            return self.error(node, path, str(exc))

    def located(self, node: yaml.Node, path: str) -> Any:
        text = self.scalar(node, path, _text)
        return _INVALID if text is _INVALID else Located(text, self.where(node), path)

    def mapping(
        self, node: yaml.Node, path: str, fields: dict[str, Callable[[yaml.Node, str], Any]]
    ) -> dict[str, Any] | None:
        """The valid fields of a mapping node; unknown keys, duplicates and bad values are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path or "(top level)", "expected a mapping of keys, like 'interval: 1s'")
            return None
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_path = f"{path}.{key}" if path else key
            if key in seen:
                self.error(key_node, key_path, "duplicate key")
                continue
            seen.add(key)
            if key not in fields:
                self.error(key_node, key_path, f"unknown key{_suggest(key, list(fields))}")
                continue
            value = fields[key](value_node, key_path)
            if value is not _INVALID:
                out[key] = value
        return out

    def sequence(self, node: yaml.Node, path: str, item: Callable[[yaml.Node, str], Any]) -> list[Any]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, "expected a list (lines starting with '- ')")
            return []
        values = [item(child, f"{path}[{index}]") for index, child in enumerate(node.value)]
        return [value for value in values if value is not _INVALID]


def _written_keys(node: yaml.MappingNode) -> set[str]:
    """Keys present in a mapping, valid or not: a key present with a bad value is reported already and
    must not be reported again as missing."""
    return {str(key.value) for key, _ in node.value}


def _suggest(key: str, known: list[str]) -> str:
    import difflib  # only ever needed to explain an error

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(sorted(known))})"


# -- sections -------------------------------------------------------------------------------------------


def _rule_fields(w: _Walker, override: bool) -> dict[str, Callable[[yaml.Node, str], Any]]:
    def labels(node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            return w.error(node, path, "expected a mapping of label: value")
        out = []
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if not LABEL_NAME.match(key) or key.startswith("__"):
                w.error(key_node, f"{path}.{key}", "label names are letters, digits and _, not starting with __")
                continue
            if key in RESERVED_LABELS:
                w.error(key_node, f"{path}.{key}", f"'{key}' is set by memmond and cannot be a label")
                continue
            value = w.scalar(value_node, f"{path}.{key}", _text)
            if value is not _INVALID:
                out.append((key, value))
        return tuple(out)

    fields: dict[str, Callable[[yaml.Node, str], Any]] = {
        "expr": w.located,
        "clear": w.located,
        "summary": w.located,
        "for": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 0, 86400, "s")),
        "keep_firing_for": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 0, 86400, "s")),
        "severity": lambda n, p: w.scalar(n, p, _one_of(SEVERITIES)),
        "labels": labels,
        "record": lambda n, p: w.scalar(n, p, _boolean),
    }
    if override:
        fields["enabled"] = lambda n, p: w.scalar(n, p, _boolean)
    else:
        fields["name"] = lambda n, p: w.scalar(n, p, _rule_name)
        fields["for_each"] = lambda n, p: w.scalar(n, p, _one_of(FOR_EACH))
    return fields


def _rule(w: _Walker, node: yaml.Node, path: str, override: bool, name: str | None = None) -> Any:
    values = w.mapping(node, path, _rule_fields(w, override))
    if values is None:
        return _INVALID
    if not override:
        written = _written_keys(node)
        for required in ("name", "expr"):
            if required not in written:
                w.error(node, path, f"a rule needs '{required}'")
        if "name" not in values or "expr" not in values:
            return _INVALID
    if "clear" in values and "keep_firing_for" in values:
        w.error(node, path, "use either 'clear' or 'keep_firing_for', not both")
        return _INVALID
    return RuleConfig(
        path=path,
        where=w.where(node),
        name=values.get("name", name),
        expr=values.get("expr"),
        clear=values.get("clear"),
        summary=values.get("summary"),
        for_seconds=values.get("for"),
        keep_firing_for_seconds=values.get("keep_firing_for"),
        severity=values.get("severity"),
        labels=values.get("labels"),
        enabled=values.get("enabled"),
        for_each=values.get("for_each"),
        record=values.get("record"),
    )


def _levels(w: _Walker, node: yaml.Node, path: str) -> Any:
    def threshold(level: str) -> Callable[[yaml.Node, str], Any]:
        def parse_one(n: yaml.Node, p: str) -> Any:
            values = w.mapping(
                n,
                p,
                {
                    "enter": lambda n2, p2: w.scalar(n2, p2, parse_ratio),
                    "exit": lambda n2, p2: w.scalar(n2, p2, parse_ratio),
                },
            )
            if values is None or "enter" not in values or "exit" not in values:
                if values is not None:
                    w.error(n, p, "needs both 'enter' and 'exit', like {enter: 20%, exit: 22%}")
                return _INVALID
            if values["exit"] <= values["enter"]:
                return w.error(
                    n,
                    p,
                    f"exit ({values['exit']:.0%}) must be above enter ({values['enter']:.0%}), "
                    "or the level could never be left",
                )
            return Threshold(level, values["enter"], values["exit"])

        return parse_one

    def psi_floor(n: yaml.Node, p: str) -> Any:
        values = w.mapping(
            n,
            p,
            {
                "kind": lambda n2, p2: w.scalar(n2, p2, _one_of(("some", "full"))),
                "window": lambda n2, p2: w.scalar(n2, p2, _one_of(("10s", "60s", "300s"))),
                "above": lambda n2, p2: w.scalar(n2, p2, parse_ratio),
                "below": lambda n2, p2: w.scalar(n2, p2, parse_ratio),
                "level": lambda n2, p2: w.scalar(n2, p2, _one_of(LEVELS[1:])),
            },
        )
        if values is None:
            return _INVALID
        written = _written_keys(n)
        missing = [k for k in ("kind", "window", "above", "level") if k not in written]
        if missing:
            return w.error(n, p, f"missing {', '.join(missing)}")
        if any(k not in values for k in ("kind", "window", "above", "level")):
            return _INVALID
        below = values.get("below", values["above"] / 2)
        if below > values["above"]:
            return w.error(n, p, "below must not be above 'above'")
        return PsiFloor(values["kind"], values["window"].rstrip("s"), values["above"], below, values["level"])

    values = w.mapping(
        node,
        path,
        {
            "levels": lambda n, p: w.mapping(n, p, {level: threshold(level) for level in LEVELS[1:]}),
            "psi": lambda n, p: w.sequence(n, p, psi_floor),
        },
    )
    if values is None:
        return _INVALID
    defaults = {t.level: t for t in DEFAULT_LEVELS.thresholds}
    given = values.get("levels") or {}
    thresholds = tuple(given.get(level, defaults[level]) for level in LEVELS[1:])
    enters = [t.enter for t in thresholds]
    if enters != sorted(enters, reverse=True) or len(set(enters)) != len(enters):
        shown = ", ".join(f"{t.level} {t.enter:.0%}" for t in thresholds)
        return w.error(node, f"{path}.levels", f"enter thresholds must fall from medium to critical (got {shown})")
    psi = tuple(values["psi"]) if "psi" in values else DEFAULT_LEVELS.psi
    return LevelConfig(thresholds, psi)


def _builtin(w: _Walker, node: yaml.Node, path: str) -> Any:
    def overrides(n: yaml.Node, p: str) -> Any:
        if not isinstance(n, yaml.MappingNode):
            return w.error(n, p, "expected a mapping of rule name: settings")
        out = []
        for key_node, value_node in n.value:
            name = str(key_node.value)
            rule = _rule(w, value_node, f"{p}.{name}", override=True, name=name)
            if rule is not _INVALID:
                out.append(rule)
        return tuple(out)

    return w.mapping(
        node,
        path,
        {
            "enabled": lambda n, p: w.scalar(n, p, _boolean),
            "overrides": overrides,
        },
    )


def _absolute_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"expected an absolute path, got {value!r}")
    return os.path.normpath(value)


def _watch(w: _Walker, node: yaml.Node, path: str) -> Any:
    def capped(limit: int, what: str, item: Callable[[yaml.Node, str], Any]) -> Callable[[yaml.Node, str], Any]:
        def parse_list(n: yaml.Node, p: str) -> Any:
            items = w.sequence(n, p, item)
            if isinstance(n, yaml.SequenceNode) and len(n.value) > limit:
                return w.error(
                    n,
                    p,
                    f"at most {limit} {what}, got {len(n.value)}: each is a label value on "
                    "memmond's metrics, and their number must stay small",
                )
            return tuple(items)

        return parse_list

    def process_watch(n: yaml.Node, p: str) -> Any:
        values = w.mapping(
            n,
            p,
            {
                "name": lambda n2, p2: w.scalar(n2, p2, _process_name),
                "pidfile": lambda n2, p2: w.scalar(n2, p2, _absolute_path),
            },
        )
        if values is None:
            return _INVALID
        if "name" not in _written_keys(n):
            return w.error(n, p, "needs a 'name' (the process name, and the metric label)")
        if "name" not in values:
            return _INVALID
        return ProcessWatch(values["name"], values.get("pidfile"))

    return w.mapping(
        node,
        path,
        {
            "interval": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 3600, "s")),
            "files": capped(MAX_WATCHED_FILES, "watched paths", lambda n, p: w.scalar(n, p, _absolute_path)),
            "processes": capped(MAX_WATCHED_PROCESSES, "watched processes", process_watch),
        },
    )


def _process_name(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or "/" in value:
        raise ValueError(f"expected a process name like postgres, got {value!r}")
    return value


def compose(text: str, name: str) -> yaml.Node | None:
    """YAML text to a node tree with marks; ConfigError for invalid YAML and for nesting so deep that the
    parser would exhaust Python's stack (a file of 500 nested mappings is an attack, not a config)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{name}: nested too deeply: a memmond config is a few levels deep"]) from None


def _http(w: _Walker, node: yaml.Node, path: str) -> Any:
    values = w.mapping(
        node,
        path,
        {
            "max_connections": lambda n, p: w.scalar(n, p, _int_in(16, 1_000_000)),
            "header_timeout": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 300, "s")),
            "idle_timeout": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 3600, "s")),
            "write_timeout": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 3600, "s")),
        },
    )
    if values is None:
        return _INVALID
    default = HttpLimits()
    return HttpLimits(
        max_connections=values.get("max_connections", default.max_connections),
        header_timeout_seconds=values.get("header_timeout", default.header_timeout_seconds),
        idle_timeout_seconds=values.get("idle_timeout", default.idle_timeout_seconds),
        write_timeout_seconds=values.get("write_timeout", default.write_timeout_seconds),
    )


def _glob(value: Any) -> str:
    text = _text(value)
    if not text.startswith(("/", "*")):
        raise ValueError(f"expected a glob on the cgroup path, like /system.slice/*.service, got {text!r}")
    return text


def _cgroups(w: _Walker, node: yaml.Node, path: str) -> Any:
    values = w.mapping(
        node,
        path,
        {
            "enabled": lambda n, p: w.scalar(n, p, _boolean),
            "max_depth": lambda n, p: w.scalar(n, p, _int_in(0, 32)),
            "include": lambda n, p: tuple(w.sequence(n, p, lambda n2, p2: w.scalar(n2, p2, _glob))),
            "exclude": lambda n, p: tuple(w.sequence(n, p, lambda n2, p2: w.scalar(n2, p2, _glob))),
            "max_cgroups": lambda n, p: w.scalar(n, p, _int_in(1, 1000)),
            "detail": lambda n, p: w.scalar(n, p, _one_of(("basic", "full"))),
            "interval": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 3600, "s")),
        },
    )
    if values is None:
        return _INVALID
    default = CgroupConfig()
    return CgroupConfig(
        enabled=values.get("enabled", default.enabled),
        max_depth=values.get("max_depth", default.max_depth),
        include=values.get("include", ()),
        exclude=values.get("exclude", ()),
        max_cgroups=values.get("max_cgroups", default.max_cgroups),
        detail=values.get("detail", default.detail),
        interval_seconds=values.get("interval"),
    )


def _system(w: _Walker, node: yaml.Node, path: str) -> Any:
    values = w.mapping(
        node,
        path,
        {
            "enabled": lambda n, p: w.scalar(n, p, _boolean),
            "interval": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 3600, "s")),
        },
    )
    if values is None:
        return _INVALID
    default = SystemConfig()
    return SystemConfig(values.get("enabled", default.enabled), values.get("interval", default.interval_seconds))


def _events(w: _Walker, node: yaml.Node, path: str) -> Any:
    def trigger(n: yaml.Node, p: str) -> Any:
        values = w.mapping(
            n,
            p,
            {
                "kind": lambda n2, p2: w.scalar(n2, p2, _one_of(("some", "full"))),
                "stall": lambda n2, p2: w.scalar(n2, p2, _ranged(parse_duration, 0.001, 10, "s")),
                "window": lambda n2, p2: w.scalar(n2, p2, _ranged(parse_duration, 0.5, 10, "s")),
                "cgroup": lambda n2, p2: w.scalar(n2, p2, _cgroup_path),
            },
        )
        if values is None:
            return _INVALID
        default = PsiTriggerConfig()
        stall = values.get("stall", default.stall_seconds)
        window = values.get("window", default.window_seconds)
        if stall >= window:
            return w.error(n, p, f"stall ({stall:g}s) must be shorter than the window ({window:g}s)")
        return PsiTriggerConfig(values.get("kind", default.kind), stall, window, values.get("cgroup"))

    values = w.mapping(
        node,
        path,
        {
            "psi_triggers": lambda n, p: tuple(t for t in w.sequence(n, p, trigger) if t is not _INVALID),
            "record": lambda n, p: w.scalar(n, p, _boolean),
            "recorder_seconds": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 3600, "s")),
            "recorder_interval": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 0.05, 60, "s")),
            "fast_duration": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 300, "s")),
            "fast_interval": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 0.05, 10, "s")),
            "directory": lambda n, p: w.scalar(n, p, _text),
            "max_records": lambda n, p: w.scalar(n, p, _int_in(1, 100_000)),
            "max_bytes": lambda n, p: w.scalar(
                n, p, _ranged(lambda v: fmt.parse_bytes(str(v)), 65536, 1 << 40, " bytes")
            ),
        },
    )
    if values is None:
        return _INVALID
    default = EventsConfig()
    triggers = values.get("psi_triggers", default.psi_triggers)
    if len(triggers) > MAX_PSI_TRIGGERS:
        return w.error(node, path, f"at most {MAX_PSI_TRIGGERS} psi_triggers (one file descriptor each)")
    interval = values.get("recorder_interval", default.recorder_interval_seconds)
    seconds = values.get("recorder_seconds", default.recorder_seconds)
    fast_interval = values.get("fast_interval", default.fast_interval_seconds)
    fast_seconds = values.get("fast_duration", default.fast_seconds)
    points = seconds / (interval or 0.1) + fast_seconds / fast_interval
    if points > MAX_RECORDER_POINTS:
        return w.error(node, path, f"the flight recorder would hold over {MAX_RECORDER_POINTS} points")
    return EventsConfig(
        psi_triggers=triggers,
        record=values.get("record", default.record),
        recorder_seconds=seconds,
        recorder_interval_seconds=interval,
        fast_interval_seconds=fast_interval,
        fast_seconds=fast_seconds,
        directory=values.get("directory"),
        max_records=values.get("max_records", default.max_records),
        max_bytes=values.get("max_bytes", default.max_bytes),
    )


def _cgroup_path(value: Any) -> str:
    text = _text(value)
    if not text.startswith("/") or "/../" in f"{text}/" or "\0" in text:
        raise ValueError(f"expected a cgroup path like /system.slice/nginx.service, got {text!r}")
    return text.rstrip("/") or "/"


def parse(text: str, name: str = "<string>") -> Config:
    """Parse and validate config text. Raises ConfigError with every problem found."""
    root = compose(text, name)
    if root is None:
        return Config(source=name)
    w = _Walker(name)
    values = w.mapping(
        root,
        "",
        {
            "interval": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 0.1, 60, "s")),
            "listen": lambda n, p: w.scalar(n, p, parse_listen),
            "history_size": lambda n, p: w.scalar(n, p, _int_in(10, 1_000_000)),
            "extremes_window": lambda n, p: w.scalar(n, p, _ranged(parse_duration, 1, 86400, "s")),
            "logging": lambda n, p: w.mapping(
                n,
                p,
                {
                    "level": lambda n2, p2: w.scalar(n2, p2, _one_of(LOG_LEVELS)),
                    "target": lambda n2, p2: w.scalar(n2, p2, _one_of(LOG_TARGETS)),
                },
            ),
            "pressure": lambda n, p: _levels(w, n, p),
            "rules": lambda n, p: w.sequence(n, p, lambda n2, p2: _rule(w, n2, p2, override=False)),
            "builtin_rules": lambda n, p: _builtin(w, n, p),
            "watch": lambda n, p: _watch(w, n, p),
            "http": lambda n, p: _http(w, n, p),
            "cgroups": lambda n, p: _cgroups(w, n, p),
            "events": lambda n, p: _events(w, n, p),
            "system": lambda n, p: _system(w, n, p),
            "exposition": lambda n, p: w.mapping(
                n,
                p,
                {
                    "vmstat": lambda n2, p2: w.scalar(n2, p2, _one_of(("default", "all"))),
                    "families": lambda n2, p2: w.mapping(
                        n2, p2, {family: (lambda n3, p3: w.scalar(n3, p3, _boolean)) for family in FAMILY_GROUPS}
                    ),
                },
            ),
        },
    )
    if values is None:
        raise ConfigError(w.problems)
    logging_values = values.get("logging") or {}
    builtin = values.get("builtin_rules") or {}
    watch = values.get("watch") or {}
    rules = tuple(values.get("rules", ()))
    if len(rules) > MAX_RULES:
        w.problems.append(f"{name}: rules: at most {MAX_RULES} rules, got {len(rules)}")
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.name in seen:
            w.problems.append(f"{rule.where}: {rule.path}.name: '{rule.name}' is already defined at {seen[rule.name]}")
        else:
            seen[rule.name or ""] = rule.where
    config = Config(
        interval_seconds=values.get("interval", 1.0),
        listen=values.get("listen", Listen("", 9847)),
        history_size=values.get("history_size", 1000),
        extremes_window_seconds=values.get("extremes_window", 60.0),
        log_level=logging_values.get("level", "info"),
        log_target=logging_values.get("target", "auto"),
        levels=values.get("pressure", DEFAULT_LEVELS),
        rules=rules,
        builtin_rules_enabled=builtin.get("enabled", True),
        builtin_overrides=builtin.get("overrides", ()),
        watch_interval_seconds=watch.get("interval", 15.0),
        watch_files=watch.get("files", ()),
        watch_processes=watch.get("processes", ()),
        http=values["http"] if isinstance(values.get("http"), HttpLimits) else HttpLimits(),
        vmstat_exported=(values.get("exposition") or {}).get("vmstat", "default"),
        families_off=frozenset(
            name for name, on in ((values.get("exposition") or {}).get("families") or {}).items() if on is False
        ),
        cgroups=values["cgroups"] if isinstance(values.get("cgroups"), CgroupConfig) else CgroupConfig(),
        events=values["events"] if isinstance(values.get("events"), EventsConfig) else EventsConfig(),
        system=values["system"] if isinstance(values.get("system"), SystemConfig) else SystemConfig(),
        source=name,
    )
    if config.extremes_window_seconds < config.interval_seconds:
        w.problems.append(f"{name}: extremes_window: must be at least the interval ({config.interval_seconds:g}s)")
    if w.problems:
        raise ConfigError(w.problems, partial=config)
    return config


def embedded_text() -> str:
    """The default config shipped in the package. Read beside this module, not through importlib.resources,
    which would load tempfile, random, zipfile, bz2 and lzma into the daemon for one small file."""
    return (Path(__file__).parent / "default_config.yaml").read_text()


def read(path: str | Path | None) -> tuple[str, str]:
    """(text, name) of the config to use: `path`, else /etc/memmond/memmond.yaml, else the embedded one."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return embedded_text(), EMBEDDED_NAME
        path = DEFAULT_CONFIG_PATH
    try:
        return Path(path).read_text(), str(path)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc.reason}"]) from None


def load(path: str | Path | None) -> Config:
    """Load `path`; with None, /etc/memmond/memmond.yaml when it exists, else the embedded default."""
    text, name = read(path)
    return parse(text, name)
