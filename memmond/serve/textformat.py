"""Prometheus text (0.0.4) and OpenMetrics (1.0.0) encoding of metric families: the same bytes
prometheus_client writes (tests compare the two byte for byte), without importing it in the daemon.

Why not prometheus_client here: importing it costs 9 MB of RSS (it pulls in http.server, urllib and
ssl), a third of the daemon's budget, and building its Metric and Sample objects for ~250 series took
longer than memmond's whole sample. A scrape Prometheus makes always finds a new sample, so rendering is
on its path: the line prefixes (name and labels) and family headers are built once per layout and
cached, and only the numbers are formatted per sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Labels = tuple[tuple[str, str], ...]  # sorted by name, as both formats print them


class Family:
    """One metric family. `name` is the family name: for a counter without its `_total`, as OpenMetrics
    names it. Samples are (suffix, labels, value), the suffix appended to the name ('', '_total',
    '_bucket', '_sum', '_count')."""

    __slots__ = ("help", "name", "samples", "texts", "type", "unit")

    def __init__(self, name: str, type_: str, help_: str, unit: str = "") -> None:
        self.name = name
        self.type = type_
        self.help = help_
        self.unit = unit
        self.samples: list[tuple[str, Labels, float]] = []
        # The encoders' text of this family (text format, OpenMetrics), kept on it: a family handed on
        # unchanged from the last scrape (the builders keep those whose values stood still) costs a look
        # at this list. A family is not added to once it has been rendered.
        self.texts: list[bytes | None] = [None, None]

    def add(self, value: float, labels: Labels = (), suffix: str = "") -> Family:
        self.samples.append((suffix, labels, value))
        return self

    def __repr__(self) -> str:
        return f"Family({self.name!r}, {self.type!r}, {len(self.samples)} samples)"


def gauge(name: str, help_: str, value: float | None = None, unit: str = "") -> Family:
    family = Family(name, "gauge", help_, unit)
    if value is not None:
        family.add(value)
    return family


def counter(name: str, help_: str, value: float | None = None) -> Family:
    """`name` with or without `_total`; the family is named without it."""
    family = Family(name.removesuffix("_total"), "counter", help_)
    if value is not None:
        family.add(value, suffix="_total")
    return family


def histogram(
    name: str, help_: str, bounds: Iterable[float], counts: list[int], total: float, unit: str = ""
) -> Family:
    """Per-bucket (not cumulative) `counts`, the last one for +Inf, into cumulative buckets, sum, count."""
    family = Family(name, "histogram", help_, unit)
    cumulative = 0
    for bound, count in zip(bounds, counts, strict=False):
        cumulative += count
        family.add(cumulative, (("le", go_float(bound)),), "_bucket")
    cumulative += counts[-1]
    family.add(cumulative, (("le", "+Inf"),), "_bucket")
    family.add(cumulative, (), "_count")
    family.add(total, (), "_sum")
    return family


_EXACT_INT = 1 << 53  # below it, str(n) has the digits of repr(float(n))


def go_float(value: float) -> str:
    """A number as Go's Prometheus libraries print it: Python's shortest repr, but with an exponent
    from 1e+06 on (Go switches to exponents sooner than Python), and +Inf, -Inf, NaN."""
    if type(value) is int and -_EXACT_INT < value < _EXACT_INT:
        # Most samples are byte counts and counters held as int: the same text without the float detour.
        digits = str(value)
        if value > 0 and len(digits) > 6:
            mantissa = f"{digits[0]}.{digits[1:]}".rstrip("0.")
            return f"{mantissa}e+{len(digits) - 1:02d}"
        return digits + ".0"
    number = float(value)
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number != number:
        return "NaN"
    text = repr(number)
    dot = text.find(".")
    if number > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Encoder:
    """Renders families; remembers line prefixes and headers, so a layout seen before costs only its
    numbers. Bounded: the caches are dropped whole when they outgrow MAX_CACHED (a layout churning
    through label values must not grow memory without end)."""

    MAX_CACHED = 20_000

    def __init__(self, openmetrics: bool) -> None:
        self.openmetrics = openmetrics
        self._headers: dict[tuple[str, str, str, str], str] = {}
        self._prefixes: dict[tuple[str, Labels], str] = {}
        # Each family's last samples and text: a family that did not change since the last scrape (the
        # rules, static meminfo fields, counters that did not move) is copied, not formatted again.
        # Kept as bytes, joined as bytes: no text copy of the whole body to encode at every scrape.
        self._chunks: dict[tuple[str, str], tuple[list[tuple[str, Labels, float]], bytes]] = {}

    def _header(self, family: Family) -> str:
        key = (family.name, family.type, family.help, family.unit)
        header = self._headers.get(key)
        if header is None:
            if len(self._headers) > self.MAX_CACHED:
                self._headers.clear()
            name = family.name
            if self.openmetrics:
                help_text = _escape_label_value(family.help)
                header = f"# HELP {name} {help_text}\n# TYPE {name} {family.type}\n"
                if family.unit:
                    header += f"# UNIT {name} {family.unit}\n"
            else:
                text_name = name + "_total" if family.type == "counter" else name
                help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
                header = f"# HELP {text_name} {help_text}\n# TYPE {text_name} {family.type}\n"
            self._headers[key] = header
        return header

    def _prefix(self, name: str, labels: Labels) -> str:
        key = (name, labels)
        prefix = self._prefixes.get(key)
        if prefix is None:
            if len(self._prefixes) > self.MAX_CACHED:
                self._prefixes.clear()
            if labels:
                inner = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in labels)
                prefix = f"{name}{{{inner}}} "
            else:
                prefix = f"{name} "
            self._prefixes[key] = prefix
        return prefix

    def render(self, families: Iterable[Family]) -> bytes:
        out: list[bytes] = []
        append = out.append
        prefix_of = self._prefix
        chunks = self._chunks
        slot = 1 if self.openmetrics else 0
        if len(chunks) > self.MAX_CACHED:
            chunks.clear()
        for family in families:
            texts = family.texts
            chunk = texts[slot]
            if chunk is None:
                key = (family.name, family.help)
                samples = family.samples
                last = chunks.get(key)
                if last is not None and last[0] == samples:  # compared in C; equal values print alike
                    chunk = last[1]
                else:
                    parts = [self._header(family)]
                    name = family.name
                    for suffix, labels, value in samples:
                        parts.append(prefix_of(name + suffix, labels))
                        parts.append(go_float(value))
                        parts.append("\n")
                    chunk = "".join(parts).encode()
                    chunks[key] = (samples, chunk)
                texts[slot] = chunk
            append(chunk)
        if self.openmetrics:
            append(b"# EOF\n")
        return b"".join(out)
