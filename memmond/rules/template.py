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
from memmond.sources.cgroup import CgroupMemory

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

    def render(
        self, snap: Snapshot, vocabulary: Vocabulary, value: float | None, cgroup: CgroupMemory | None = None
    ) -> str:
        out = []
        for literal, name, filter_name in self.parts:
            out.append(literal)
            if name is None:
                continue
            if name in CGROUP_TEXT:
                text = (cgroup.path if name == "cgroup" else cgroup.unit) if cgroup is not None else "n/a"
                out.append(text or "-")
                continue
            if name == "value":
                number = value
            else:
                series = vocabulary.series[name]
                source = cgroup if series.per_cgroup else snap
                number = None if source is None else series.get(source)
            out.append("n/a" if number is None else FILTERS[filter_name](float(number)))
        return "".join(out)


# Texts a per-cgroup rule's summary may name: the cgroup's path and its systemd unit.
CGROUP_TEXT = ("cgroup", "unit")


def compile_template(text: str, vocabulary: Vocabulary, per_cgroup: bool = False) -> Template:
    """Checked against the vocabulary; a per-cgroup rule's summary may also name {{ cgroup }} and
    {{ unit }} and the cgroup_* values, a machine-wide rule's may not (it has no cgroup to take them from)."""
    parts: list[tuple[str, str | None, str]] = []
    last = 0
    for match in _FIELD.finditer(text):
        inside = match.group(1)
        name, _, filter_name = (piece.strip() for piece in inside.partition("|"))
        filter_name = filter_name or "number"
        if name in CGROUP_TEXT or (name in vocabulary.series and vocabulary.series[name].per_cgroup):
            if not per_cgroup:
                raise TemplateError(f"{{{{ {inside} }}}}: only a rule with 'for_each: cgroup' has a cgroup to name")
            if name in CGROUP_TEXT:
                parts.append((text[last : match.start()], name, ""))
                last = match.end()
                continue
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
