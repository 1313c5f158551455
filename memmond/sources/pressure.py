"""/proc/pressure/memory: pressure stall information (PSI), Linux 4.20+.

Kernels without CONFIG_PSI have no file, and kernels booted with psi=0 fail the read with EOPNOTSUPP; both
surface from `read` as SourceUnavailable, which the daemon reports as a state, not as an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from memmond.sources._lines import SkippedLine, no_fields_error
from memmond.sources.procfs import ProcFS

SOURCE = "pressure"
PATH = "pressure/memory"
KINDS = ("some", "full")
WINDOWS = ("10", "60", "300")


class StallLine(NamedTuple):
    """One PSI line. Averages are ratios of wall time (the kernel prints percent); total is microseconds.
    A NamedTuple, not a frozen dataclass: made twice per sample, and its C constructor is 5x cheaper."""

    avg10: float
    avg60: float
    avg300: float
    total_us: int

    @property
    def total_seconds(self) -> float:
        return self.total_us / 1_000_000

    def avg(self, window: str) -> float:
        return {"10": self.avg10, "60": self.avg60, "300": self.avg300}[window]


@dataclass(frozen=True, slots=True)
class Pressure:
    """`some`: at least one task stalled on memory; `full`: all non-idle tasks stalled at once."""

    some: StallLine | None
    full: StallLine | None
    skipped: tuple[SkippedLine, ...] = field(default=())

    def line(self, kind: str) -> StallLine | None:
        return self.some if kind == "some" else self.full


def _parse_line(parts: list[str]) -> StallLine:
    fields = dict(part.split("=", 1) for part in parts)
    return StallLine(
        avg10=float(fields["avg10"]) / 100.0,
        avg60=float(fields["avg60"]) / 100.0,
        avg300=float(fields["avg300"]) / 100.0,
        total_us=int(fields["total"]),
    )


_WELL_FORMED = re.compile(
    r"some avg10=(\d+\.\d+) avg60=(\d+\.\d+) avg300=(\d+\.\d+) total=(\d+)\n"
    r"full avg10=(\d+\.\d+) avg60=(\d+\.\d+) avg300=(\d+\.\d+) total=(\d+)\n?"
)


def _stall(avg10: str, avg60: str, avg300: str, total: str) -> StallLine | None:
    line = StallLine(float(avg10) / 100.0, float(avg60) / 100.0, float(avg300) / 100.0, int(total))
    return line if line.avg10 <= 1.0 and line.avg60 <= 1.0 and line.avg300 <= 1.0 else None


def parse(text: str) -> Pressure:
    # The file as every PSI kernel writes it: one match, no line loop. Anything else takes the line parser.
    match = _WELL_FORMED.fullmatch(text)
    if match is not None:
        some, full = _stall(*match.group(1, 2, 3, 4)), _stall(*match.group(5, 6, 7, 8))
        if some is not None and full is not None:
            return Pressure(some, full)
    return _parse_lines(text)


def _parse_lines(text: str) -> Pressure:
    lines: dict[str, StallLine] = {}
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        kind = parts[0]
        if kind not in KINDS:
            skipped.append(SkippedLine(lineno, line, f"unknown line kind {kind!r}"))
            continue
        try:
            stall = _parse_line(parts[1:])
        except (ValueError, KeyError) as exc:
            skipped.append(SkippedLine(lineno, line, f"bad {kind} line ({exc.__class__.__name__}: {exc})"))
            continue
        if not all(0.0 <= value <= 1.0 for value in (stall.avg10, stall.avg60, stall.avg300)):
            skipped.append(SkippedLine(lineno, line, "average outside 0..100 %"))
            continue
        if stall.total_us < 0:
            skipped.append(SkippedLine(lineno, line, "negative total"))
            continue
        lines.setdefault(kind, stall)
    if not lines:
        raise no_fields_error(SOURCE, skipped)
    return Pressure(lines.get("some"), lines.get("full"), tuple(skipped))


def read(procfs: ProcFS) -> Pressure:
    return parse(procfs.read_sample_text(PATH, SOURCE))
