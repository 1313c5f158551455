"""`memmond events`: the memory events a daemon recorded, from its HTTP API or straight from its state
directory (a stopped daemon's records, or another host's copied over).

The list answers "what happened and when"; `show ID` answers "what did the seconds around it look like":
a timeline of available memory, page cache and stall time, with a curve of each, because people read a
curve faster than a table.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from memmond import format as fmt
from memmond.cli import remote
from memmond.cli.live import sparkline
from memmond.model.recorder import FIELDS, SUFFIX, read_record, summary_of


class EventsUnavailable(Exception):
    """Neither the daemon nor the directory could give the events; the message says why."""


def list_events(url: str | None, directory: str | None) -> list[dict[str, object]]:
    """Summaries, newest first. From the directory: every readable record file, a corrupt one skipped with
    a warning on stderr (as the daemon does)."""
    if directory is not None:
        root = Path(directory)
        if not root.is_dir():
            raise EventsUnavailable(f"{directory} is not a directory")
        out = []
        for path in sorted(root.glob(f"*{SUFFIX}"), reverse=True):
            record = read_record(path)
            if record is None:
                import sys

                print(f"memmond: warning: skipping {path}: not a readable event record", file=sys.stderr)
                continue
            out.append(summary_of(record))
        return out
    assert url is not None
    doc = json.loads(remote.get(url, "/api/v1/events"))
    return list(doc.get("events", []))


def get_event(url: str | None, directory: str | None, event_id: str) -> dict[str, object]:
    if directory is not None:
        record = read_record(Path(directory) / f"{Path(event_id).name}{SUFFIX}")
        if record is None:
            raise EventsUnavailable(f"no readable event {event_id!r} in {directory}")
        return record
    assert url is not None
    return json.loads(remote.get(url, f"/api/v1/events/{event_id}"))


def _when(wall: object) -> str:
    if not isinstance(wall, (int, float)):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


def _bytes(value: object) -> str:
    return fmt.iec(float(value)) if isinstance(value, (int, float)) else "-"


def _seconds(value: object) -> str:
    return fmt.duration(float(value)) if isinstance(value, (int, float)) else "-"


def table(events: Sequence[Mapping[str, object]]) -> str:
    if not events:
        return "no memory events recorded"
    rows = [
        [
            _when(e.get("started")),
            str(e.get("trigger") or "-"),
            _seconds(e.get("duration_seconds")),
            _bytes(e.get("min_available_bytes")),
            _seconds(e.get("stalled_seconds")),
            str(e.get("oom_kills") or 0),
            str(e.get("top_cgroup") or "-"),
            str(e.get("id")),
        ]
        for e in events
    ]
    header = ["started", "trigger", "lasted", "lowest available", "stalled", "OOM kills", "most affected", "id"]
    return fmt.table(rows, header, align="llrrrrll")


def _series(record: Mapping[str, object], name: str) -> list[tuple[float, float]]:
    fields = list(record.get("fields") or FIELDS)  # type: ignore[call-overload]
    at, index = fields.index("monotonic"), fields.index(name)
    points = record.get("points") or []
    return [(row[at], row[index]) for row in points if row[index] is not None]  # type: ignore[union-attr,index]


def _stall_steps(points: list[tuple[float, float]]) -> list[float]:
    """Stall time as a share of each step between points (the PSI totals are seconds since boot)."""
    out = []
    for (t0, s0), (t1, s1) in itertools.pairwise(points):
        out.append(max(0.0, (s1 - s0) / (t1 - t0)) if t1 > t0 else 0.0)
    return out


def timeline(record: Mapping[str, object], rows: int = 24, width: int = 60) -> str:
    """The record for people: what fired, the curves, then a table thinned to `rows` lines."""
    started = float(record.get("started_monotonic") or 0.0)  # type: ignore[arg-type]
    triggers = record.get("trigger_list") or []
    lines = [
        f"memory event {record.get('id')}: {record.get('trigger')}, {_when(record.get('started'))}, "
        f"lasted {_seconds(record.get('duration_seconds'))}",
    ]
    for trigger in triggers[:5]:  # type: ignore[index]
        detail = ", ".join(f"{k}={v}" for k, v in trigger.items() if k not in ("trigger", "time") and v is not None)
        lines.append(f"  {_when(trigger.get('time'))}  {trigger.get('trigger')}  {detail}")
    more = int(record.get("triggers") or 0) - min(5, len(triggers))  # type: ignore[arg-type,call-overload]
    if more > 0:
        lines.append(f"  ... and {more} more")
    available = _series(record, "mem_available_bytes")
    some = _series(record, "psi_some_seconds")
    cache = _series(record, "page_cache_bytes")
    if available:
        values = [v for _, v in available][-width:]
        lines += ["", f"  available  {sparkline(values)}  {_bytes(min(values))} .. {_bytes(max(values))}"]
    if cache:
        values = [v for _, v in cache][-width:]
        lines.append(f"  page cache {sparkline(values)}  {_bytes(min(values))} .. {_bytes(max(values))}")
    steps = _stall_steps(some)
    if steps:
        values = steps[-width:]
        lines.append(f"  stalled    {sparkline(values)}  up to {fmt.percent(max(values))} of the time (PSI some)")
    if available:
        step = max(1, -(-len(available) // rows))  # at most `rows` lines
        stall_at = dict(zip((t for t, _ in some[1:]), steps, strict=False))
        cache_at = dict(cache)
        table_rows = [
            [
                f"{t - started:+.1f}s",
                _bytes(v),
                _bytes(cache_at.get(t)),
                fmt.percent(stall_at[t]) if t in stall_at else "-",
            ]
            for t, v in available[::step]
        ]
        lines += ["", fmt.table(table_rows, ["time", "available", "page cache", "stalled"])]
    movers = record.get("cgroups") or []
    if movers:
        lines += ["", "  cgroups that stalled or grew most:"]
        lines.append(
            fmt.table(
                [
                    [
                        str(c.get("cgroup")),
                        _bytes(c.get("memory_bytes")),
                        fmt.signed_iec(float(c["grown_bytes"])) if c.get("grown_bytes") is not None else "-",
                        _seconds(c.get("stalled_seconds")),
                    ]
                    for c in movers  # type: ignore[union-attr]
                ],
                ["cgroup", "memory", "grew", "stalled"],
                indent=4,
            )
        )
    kills = record.get("oom_kill_list") or []
    if kills:
        lines += ["", "  OOM kills:"]
        for kill in kills:  # type: ignore[union-attr]
            who = f"{kill.get('command')} (pid {kill.get('pid')})"
            lines.append(
                f"    {_when(kill.get('time'))}  {who} in {kill.get('cgroup')}, rss {_bytes(kill.get('rss_bytes'))}"
            )
    return "\n".join(lines)
