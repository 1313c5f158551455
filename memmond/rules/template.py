"""Rule summaries: `Available {{ mem_available | bytes }} of {{ mem_total | bytes }}`.

Checked at load time (names from the vocabulary or `value`, filters from the list below), rendered with
the values of the sample that fired the rule. Only substitution: no logic, no attribute access.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from memmond import format as fmt
from memmond.model.snapshot import Snapshot
from memmond.rules.names import Vocabulary

_FIELD = re.compile(r"\{\{\s*(.*?)\s*\}\}")

FILTERS: dict[str, Callable[[float], str]] = {
    "bytes": lambda v: fmt.iec(v),
    "percent": lambda v: fmt.percent(v),
    "number": lambda v: f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}",
    "duration": lambda v: fmt.duration(v),
    "raw": lambda v: repr(v),
}


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Template:
    text: str
    parts: tuple[tuple[str, str | None, str], ...]  # (literal before, name or None, filter)

    def render(self, snap: Snapshot, vocabulary: Vocabulary, value: float | None) -> str:
        out = []
        for literal, name, filter_name in self.parts:
            out.append(literal)
            if name is None:
                continue
            number = value if name == "value" else vocabulary.series[name].get(snap)
            out.append("n/a" if number is None else FILTERS[filter_name](float(number)))
        return "".join(out)


def compile_template(text: str, vocabulary: Vocabulary) -> Template:
    parts: list[tuple[str, str | None, str]] = []
    last = 0
    for match in _FIELD.finditer(text):
        inside = match.group(1)
        name, _, filter_name = (piece.strip() for piece in inside.partition("|"))
        filter_name = filter_name or "number"
        if name != "value" and name not in vocabulary.series:
            raise TemplateError(f"{{{{ {inside} }}}}: {vocabulary.explain_unknown(name)}")
        if filter_name not in FILTERS:
            raise TemplateError(f"{{{{ {inside} }}}}: unknown filter {filter_name!r} (filters: {', '.join(FILTERS)})")
        parts.append((text[last : match.start()], name, filter_name))
        last = match.end()
    if "{{" in text[last:] or "}}" in text[last:]:
        raise TemplateError("unbalanced {{ }} in the summary")
    parts.append((text[last:], None, ""))
    return Template(text, tuple(parts))
