"""The difference between two snapshots: what changed, how fast, in words a person can read.

Counter rates are only computed when both snapshots come from the same boot (the counters restart at
boot) and the counter did not go backwards; otherwise the rate is None rather than a wrong number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from memmond import format as fmt
from memmond.model.snapshot import DERIVED, Snapshot
from memmond.sources import pressure
from memmond.sources.vmstat import is_counter

# The fields the one-line summary names, in the order a person reads them.
SUMMARY_FIELDS = ("MemFree", "MemAvailable", "Dirty", "Writeback")


@dataclass(frozen=True)
class Change:
    name: str
    before: float
    after: float
    rate: float | None = None
    """Per second, for counters only; None when not meaningful (reset, other boot, no elapsed time)."""

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Diff:
    before: Snapshot
    after: Snapshot

    @property
    def same_boot(self) -> bool:
        # Unknown boot ids (a procfs tree without sys/) are assumed to match; counter resets still show.
        return self.before.boot_id is None or self.after.boot_id is None or (self.before.boot_id == self.after.boot_id)

    @property
    def seconds(self) -> float:
        """Elapsed time: monotonic within one boot (immune to clock steps), wall clock across boots."""
        if self.same_boot and self.before.boot_id is not None:
            return self.after.monotonic - self.before.monotonic
        return self.after.wall_time - self.before.wall_time

    def meminfo(self) -> list[Change]:
        """Every field present in both, in the order of the later snapshot."""
        b, a = self.before.meminfo, self.after.meminfo
        if b is None or a is None:
            return []
        return [Change(name, b[name], a[name]) for name in a if name in b]

    def meminfo_only_in(self) -> tuple[list[str], list[str]]:
        """(fields only before, fields only after): a kernel upgrade between two saved snapshots."""
        b, a = self.before.meminfo, self.after.meminfo
        if b is None or a is None:
            return [], []
        return [n for n in b if n not in a], [n for n in a if n not in b]

    def derived(self) -> list[Change]:
        b, a = self.before.derived(), self.after.derived()
        return [Change(name, b[name], a[name]) for name in DERIVED if name in b and name in a]

    def _rate(self, before: float, after: float) -> float | None:
        seconds = self.seconds
        if not self.same_boot or seconds <= 0 or after < before:
            return None
        return (after - before) / seconds

    def vmstat_counters(self) -> list[Change]:
        b, a = self.before.vmstat, self.after.vmstat
        if b is None or a is None:
            return []
        return [
            Change(name, b[name], a[name], self._rate(b[name], a[name])) for name in a if name in b and is_counter(name)
        ]

    def vmstat_gauges(self) -> list[Change]:
        b, a = self.before.vmstat, self.after.vmstat
        if b is None or a is None:
            return []
        return [Change(name, b[name], a[name]) for name in a if name in b and not is_counter(name)]

    def pressure_stall(self) -> list[Change]:
        """Per kind: total stall seconds before/after, rate = share of wall time stalled (0..1)."""
        b, a = self.before.pressure, self.after.pressure
        if b is None or a is None:
            return []
        out = []
        for kind in pressure.KINDS:
            lb, la = b.line(kind), a.line(kind)
            if lb is not None and la is not None:
                out.append(
                    Change(
                        kind,
                        lb.total_seconds,
                        la.total_seconds,
                        self._rate(lb.total_seconds, la.total_seconds),
                    )
                )
        return out

    # -- human output ---------------------------------------------------------------------------------
    def summary_line(self) -> str:
        """One line: the changes most people look for first."""
        changes = {c.name: c for c in self.meminfo()}
        parts = []
        for name in SUMMARY_FIELDS[:2]:
            if name in changes:
                parts.append(f"{name} {fmt.signed_iec(int(changes[name].change))}")
        derived = {c.name: c for c in self.derived()}
        if "page_cache" in derived:
            parts.append(f"page cache {fmt.signed_iec(int(derived['page_cache'].change))}")
        for name in SUMMARY_FIELDS[2:]:
            if name in changes:
                parts.append(f"{name} {fmt.signed_iec(int(changes[name].change))}")
        return f"over {fmt.duration(self.seconds)}: " + (", ".join(parts) if parts else "no meminfo to compare")

    def summary_text(self) -> str:
        """Several lines: every changed meminfo field, the derived values, busy counters, PSI."""
        lines = [
            f"Change over {fmt.duration(self.seconds)} "
            f"({_clock(self.before.wall_time)} -> {_clock(self.after.wall_time)})"
        ]
        if not self.same_boot:
            lines.append("  (the snapshots come from different boots: no counter rates)")
        if self.before.meminfo is None or self.after.meminfo is None:
            lines.append("  meminfo missing from one snapshot")
        changed = sorted((c for c in self.meminfo() if c.change), key=lambda c: abs(c.change), reverse=True)
        if changed:
            counts = self.after.meminfo.count_fields if self.after.meminfo else frozenset()
            lines += [
                "",
                "meminfo (changed fields, largest change first)",
                fmt.table(
                    [_bytes_row(c) if c.name not in counts else _count_row(c) for c in changed],
                    header=["field", "before", "after", "change"],
                ),
            ]
        elif self.after.meminfo is not None:
            lines += ["", "meminfo: no field changed"]
        gone, new = self.meminfo_only_in()
        if gone or new:
            lines.append(f"  fields only before: {', '.join(gone) or '-'}; only after: {', '.join(new) or '-'}")
        derived = self.derived()
        if derived:
            rows = []
            for c in derived:
                if DERIVED[c.name].unit == "ratio":
                    rows.append([c.name, fmt.percent(c.before), fmt.percent(c.after), fmt.signed_percent(c.change)])
                else:
                    rows.append(_bytes_row(c))
            lines += ["", "derived", fmt.table(rows, header=["value", "before", "after", "change"])]
        busy = [c for c in self.vmstat_counters() if c.change]
        if busy:
            busy.sort(key=lambda c: c.change, reverse=True)
            rows = [[c.name, f"{int(c.change):+,}", fmt.rate(c.rate) if c.rate is not None else "-"] for c in busy]
            lines += ["", "vmstat counters that moved", fmt.table(rows, header=["counter", "change", "rate"])]
        stalls = self.pressure_stall()
        if stalls:
            rows = [[c.name, f"{c.change:.3f} s", fmt.percent(c.rate) if c.rate is not None else "-"] for c in stalls]
            lines += [
                "",
                "memory pressure stall (PSI)",
                fmt.table(rows, header=["kind", "stalled", "of wall time"]),
            ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def changes(items: list[Change]) -> dict[str, dict[str, Any]]:
            return {c.name: {"before": c.before, "after": c.after, "change": c.change, "rate": c.rate} for c in items}

        gone, new = self.meminfo_only_in()
        return {
            "seconds": self.seconds,
            "same_boot": self.same_boot,
            "before_wall_time": self.before.wall_time,
            "after_wall_time": self.after.wall_time,
            "meminfo": changes(self.meminfo()),
            "meminfo_only_before": gone,
            "meminfo_only_after": new,
            "derived": changes(self.derived()),
            "vmstat_counters": changes(self.vmstat_counters()),
            "vmstat_gauges": changes(self.vmstat_gauges()),
            "pressure_stall_seconds": changes(self.pressure_stall()),
            "summary": self.summary_line(),
        }


def _bytes_row(c: Change) -> list[str]:
    return [c.name, fmt.short_iec(int(c.before)), fmt.short_iec(int(c.after)), fmt.signed_short_iec(int(c.change))]


def _count_row(c: Change) -> list[str]:
    return [c.name, fmt.group(int(c.before)), fmt.group(int(c.after)), f"{int(c.change):+,}"]


def _clock(wall_time: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall_time))
