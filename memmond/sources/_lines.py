"""What every parser shares: how a line it could not use is reported."""

from __future__ import annotations

from dataclasses import dataclass

from memmond.sources.procfs import SourceError


@dataclass(frozen=True)
class SkippedLine:
    """A line a parser passed over. Kept so a changed kernel format shows up instead of vanishing."""

    lineno: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.lineno}: {self.reason}: {self.text[:80]!r}"


class ParseError(SourceError):
    """The text held nothing the parser could use (empty, truncated to nothing, or garbage)."""


def no_fields_error(source: str, skipped: list[SkippedLine]) -> ParseError:
    detail = f"; first problem: {skipped[0]}" if skipped else ""
    return ParseError(source, f"no valid lines ({len(skipped)} skipped){detail}")
