"""The YAML configuration: loaded with line/column marks, validated strictly into a frozen Config.

Every error names file, line, column and key path (`memmond.yaml:3:11: interval: expected a duration
like 30s, got 'soon'`), and all errors of a file are reported at once, so an operator fixes a config in
one round. A config that fails to load never replaces a running one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_PATH = Path("/etc/memmond/memmond.yaml")
EMBEDDED_NAME = "<embedded default>"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_TARGETS = ("auto", "journal", "stderr")


class ConfigError(Exception):
    """One or more problems in a config file; str() is every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Listen:
    host: str  # "" means every address, IPv6 and IPv4
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Config:
    interval_seconds: float = 1.0
    listen: Listen = field(default_factory=lambda: Listen("", 9847))
    history_size: int = 1000
    extremes_window_seconds: float = 60.0
    log_level: str = "info"
    log_target: str = "auto"
    source: str = EMBEDDED_NAME


# -- value parsers: each returns the value or raises ValueError with the text users see -----------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """'30s', '500ms', '2m', '1h', or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration like 30s, got {value!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


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


# key -> (Config field, parser). Nested mappings use "section.key".
_SCHEMA: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "interval": ("interval_seconds", _ranged(parse_duration, 0.1, 60, "s")),
    "listen": ("listen", parse_listen),
    "history_size": ("history_size", _int_in(10, 1_000_000)),
    "extremes_window": ("extremes_window_seconds", _ranged(parse_duration, 1, 86400, "s")),
    "logging.level": ("log_level", _one_of(LOG_LEVELS)),
    "logging.target": ("log_target", _one_of(LOG_TARGETS)),
}
_SECTIONS = {key.split(".")[0] for key in _SCHEMA if "." in key}


def _suggest(key: str, known: list[str]) -> str:
    import difflib  # only ever needed to explain an error

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _where(name: str, node: yaml.Node) -> str:
    return f"{name}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def parse(text: str, name: str = "<string>") -> Config:
    """Parse and validate config text. Raises ConfigError with every problem found."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    if root is None:
        return Config(source=name)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            [f"{_where(name, root)}: the config must be a mapping of keys, like 'interval: 1s'"]
        )

    problems: list[str] = []
    values: dict[str, Any] = {}

    def visit(mapping: yaml.MappingNode, prefix: str) -> None:
        seen: set[str] = set()
        known = sorted({k[len(prefix) :].split(".")[0] for k in _SCHEMA if k.startswith(prefix)})
        for key_node, value_node in mapping.value:
            key = str(key_node.value)
            path = prefix + key
            if key in seen:
                problems.append(f"{_where(name, key_node)}: {path}: duplicate key")
                continue
            seen.add(key)
            if not prefix and key in _SECTIONS:
                if not isinstance(value_node, yaml.MappingNode):
                    problems.append(f"{_where(name, value_node)}: {path}: expected a mapping of keys")
                else:
                    visit(value_node, path + ".")
                continue
            if path not in _SCHEMA:
                problems.append(f"{_where(name, key_node)}: {path}: unknown key{_suggest(key, known)}")
                continue
            if not isinstance(value_node, yaml.ScalarNode):
                problems.append(f"{_where(name, value_node)}: {path}: expected a single value")
                continue
            field_name, check = _SCHEMA[path]
            raw = yaml.safe_load(yaml.serialize(value_node))
            try:
                values[field_name] = check(raw)
            except ValueError as exc:
                problems.append(f"{_where(name, value_node)}: {path}: {exc}")

    visit(root, "")
    if problems:
        raise ConfigError(problems)
    config = Config(source=name, **values)
    if config.extremes_window_seconds < config.interval_seconds:
        raise ConfigError(
            [f"{name}: extremes_window: must be at least the interval ({config.interval_seconds:g}s)"]
        )
    return config


def embedded_text() -> str:
    return resources.files("memmond").joinpath("default_config.yaml").read_text()


def load(path: str | Path | None) -> Config:
    """Load `path`; with None, /etc/memmond/memmond.yaml when it exists, else the embedded default."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return parse(embedded_text(), EMBEDDED_NAME)
        path = DEFAULT_CONFIG_PATH
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc.reason}"]) from None
    return parse(text, str(path))
