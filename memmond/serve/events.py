"""Memory events: something fired (a PSI trigger, an OOM kill, a rule with `record: true`, the pressure
level reaching critical), so the daemon keeps the evidence.

An event opens at the first trigger and switches the flight recorder to fast mode (vmstat's reclaim
counters too) for `fast_duration`; every further trigger while it is open joins it and extends fast mode
(up to MAX_EVENT_SECONDS), so a trigger every 2 s for an hour is a few long events, not 1,800 files.
When fast mode ends the event closes: its record (the triggers, the recorder's seconds before and the
fast seconds after, the cgroups that stalled or grew most, the OOM kills in it) goes to the journal (a
summary), to memory for /api/v1/events, and to the state directory as one JSON file, written atomically
and bounded by count and bytes, oldest removed first.

A state directory that is missing, read-only or full costs nothing but persistence: the record stays in
memory and the journal, `memmond_event_records_persisted` is 0 and the log says why once.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from memmond.model.recorder import SUFFIX, EventRecord, read_record, summary_of

log = logging.getLogger("memmond")
MAX_EVENT_SECONDS = 300.0  # an event stays open at most this long; a longer incident is several events
MAX_TRIGGERS_KEPT = 100  # firings listed in one record; more are counted
FULL_RECORDS_IN_MEMORY = 5  # whole records kept in memory (as JSON bytes); summaries of all of them


def new_id(wall_time: float) -> str:
    """Sortable by time, unique: 20261125T175400Z-3f2a."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_time)) + "-" + uuid.uuid4().hex[:4]


class EventStore:
    """Records by id: summaries of the last max_records in memory, the whole record of the newest few in
    memory, every record the directory holds on disk."""

    def __init__(self, directory: str | None, max_records: int, max_bytes: int) -> None:
        self.directory = Path(directory) if directory else None
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.summaries: collections.OrderedDict[str, dict[str, object]] = collections.OrderedDict()
        self._bodies: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self.problem: str | None = None if directory else "no state directory (StateDirectory= or events.directory)"
        self._said = False
        if self.directory is not None:
            self._load()

    @property
    def persisted(self) -> bool:
        return self.directory is not None and self.problem is None

    def _files(self) -> list[Path]:
        assert self.directory is not None
        return sorted(p for p in self.directory.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def _load(self) -> None:
        """Summaries of the records a previous run left (a restart keeps the history); a corrupt or
        truncated file is skipped with a warning."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            files = self._files()
        except OSError as exc:
            self._fail(f"cannot use {self.directory}: {exc.strerror or exc}")
            return
        for path in files:
            record = read_record(path)
            if record is None:
                log.warning("events: skipping %s: not a readable event record", path)
                continue
            self.summaries[str(record["id"])] = summary_of(record)
            if len(self.summaries) > self.max_records:
                self.summaries.popitem(last=False)

    def _fail(self, reason: str) -> None:
        self.problem = reason
        if not self._said:
            self._said = True
            log.warning("events: records are kept in memory only: %s", reason)

    def add(self, record: EventRecord) -> None:
        body = json.dumps(record.to_dict(), separators=(",", ":")).encode()
        self.summaries[record.id] = record.summary()
        self._bodies[record.id] = body
        while len(self.summaries) > self.max_records:
            self.summaries.popitem(last=False)
        while len(self._bodies) > FULL_RECORDS_IN_MEMORY:
            self._bodies.popitem(last=False)
        if self.directory is not None:
            self._write(record.id, body)

    def _write(self, record_id: str, body: bytes) -> None:
        assert self.directory is not None
        final = self.directory / f"{record_id}{SUFFIX}"
        temporary = self.directory / f".{record_id}{SUFFIX}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, final)  # a crash leaves the old set or the new, never half a file
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            self._prune()
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            self._fail(f"cannot write {final}: {exc.strerror or exc}")
            return
        if self.problem is not None:
            log.info("events: records are written to %s again", self.directory)
            self.problem, self._said = None, False

    def _prune(self) -> None:
        """Oldest first, until both the count and the bytes fit."""
        files = self._files()
        sizes = [path.stat().st_size for path in files]
        total = sum(sizes)
        for path, size in zip(files, sizes, strict=True):
            if len(files) <= self.max_records and total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            files = files[1:]
            total -= size

    def list(self) -> list[dict[str, object]]:
        return list(reversed(self.summaries.values()))

    def get(self, record_id: str) -> bytes | None:
        body = self._bodies.get(record_id)
        if body is not None:
            return body
        if self.directory is None or "/" in record_id or record_id.startswith("."):
            return None
        path = self.directory / f"{record_id}{SUFFIX}"
        return path.read_bytes() if read_record(path) is not None else None


class Events:
    """Opens, extends and closes events; the daemon calls `trigger` and gives the recorder's points,
    cgroup walks and OOM kills through the callbacks."""

    def __init__(
        self,
        store: EventStore,
        fast_seconds: float,
        before_seconds: float,
        set_fast: Callable[[bool], None],
        call_at: Callable[[float, Callable[[], None]], object],
        build: Callable[[EventRecord], None],
        on_record: Callable[[EventRecord], None],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.fast_seconds = fast_seconds
        self.before_seconds = before_seconds
        self.set_fast = set_fast
        self.call_at = call_at
        self.build = build  # fills in points, cgroups and OOM kills at close
        self.on_record = on_record
        self.clock, self.wall_clock = clock, wall_clock
        self.open: EventRecord | None = None
        self.fast_until = 0.0
        self.events_total: dict[str, int] = {}  # by the trigger that opened the event

    def trigger(self, kind: str, detail: dict[str, object]) -> None:
        now, wall = self.clock(), self.wall_clock()
        entry = {"trigger": kind, "time": wall, **detail}
        record = self.open
        if record is None:
            record = self.open = EventRecord(new_id(wall), wall, now, [entry])
            self.events_total[kind] = self.events_total.get(kind, 0) + 1
            self.set_fast(True)
            self.fast_until = now + self.fast_seconds
            self.call_at(self.fast_until, self._maybe_close)
            return
        if len(record.triggers) < MAX_TRIGGERS_KEPT:
            record.triggers.append(entry)
        else:
            record.triggers_dropped += 1
        self.fast_until = min(now + self.fast_seconds, record.started_monotonic + MAX_EVENT_SECONDS)

    def _maybe_close(self) -> None:
        now = self.clock()
        if self.open is None:
            return
        if now < self.fast_until - 0.001:
            self.call_at(self.fast_until, self._maybe_close)
            return
        self.close()

    def close(self) -> None:
        record, self.open = self.open, None
        if record is None:
            return
        self.set_fast(False)
        record.ended_monotonic, record.ended_wall = self.clock(), self.wall_clock()
        self.build(record)
        self.store.add(record)
        self.on_record(record)
