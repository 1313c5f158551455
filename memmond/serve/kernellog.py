"""The kernel log in the daemon's event loop: every OOM kill, with its victim, the moment the kernel logs it.

Two readers of the same kernel lines, each from its end at start (old kills were counted by whoever ran
then), without blocking, whenever epoll says there is more:

- /dev/kmsg, where readable: it needs CAP_SYSLOG where kernel.dmesg_restrict=1 (Debian's default).
- the journal's kernel transport (journald copies /dev/kmsg into it), read by members of the
  `systemd-journal` group: what the packaged unit gets (SupplementaryGroups=), so the hardened service
  with no capabilities still names its victims.

Without either, memmond says so once; per-cgroup counters (memory.events) still count kills.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from collections.abc import Callable

from memmond.serve.loop import READ, Loop, Timer
from memmond.sources.kmsg import OomKill, add_sizes, parse_oom_kill, parse_record

log = logging.getLogger("memmond")
READS_PER_EVENT = 256
JOURNALD_SOCKET = "/run/systemd/journal/socket"
SIZE_LINE_WAIT = 0.5  # seconds a kill waits for its "Killed process" line


class OomLines:
    """The kernel logs a kill in two lines: who ("oom-kill:..."), then how big ("Killed process ...").
    Joins them; a kill whose size line has not come SIZE_LINE_WAIT after it (the two may arrive in
    separate reads, journald may store them apart) is reported without sizes rather than not at all."""

    def __init__(self, loop: Loop, on_kill: Callable[[OomKill], None]) -> None:
        self.loop = loop
        self.on_kill = on_kill
        self._pending: OomKill | None = None
        self._timer: Timer | None = None

    def line(self, message: str, boot_usec: int) -> None:
        if self._pending is not None:
            sized = add_sizes(self._pending, message)
            if sized is not None:
                self._pending = None
                self.on_kill(sized)
                return
        kill = parse_oom_kill(message, boot_usec)
        if kill is not None:
            self.flush()
            self._pending = kill
            self._timer = self.loop.call_at(time.monotonic() + SIZE_LINE_WAIT, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending is not None:
            kill, self._pending = self._pending, None
            self.on_kill(kill)


class KernelLog:
    """/dev/kmsg (or a FIFO standing in for it in tests)."""

    def __init__(self, loop: Loop, path: str, on_kill: Callable[[OomKill], None]) -> None:
        self.loop = loop
        self.path = path
        self.fd: int | None = None
        self.error: str | None = None
        self._lines = OomLines(loop, on_kill)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self.error = f"cannot open {path}: {exc.strerror or exc}"
            return
        with contextlib.suppress(OSError):  # /dev/kmsg: from now on; a FIFO (tests) cannot seek
            os.lseek(fd, 0, os.SEEK_END)
        try:
            loop.add(fd, READ, self._on_readable)
        except OSError as exc:  # a regular file cannot be polled
            os.close(fd)
            self.error = f"cannot watch {path}: {exc.strerror or exc}"
            return
        self.fd = fd

    def _on_readable(self, mask: int) -> None:
        for _ in range(READS_PER_EVENT):
            try:
                data = os.read(self.fd, 8192)  # type: ignore[arg-type]
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # records were overwritten before we read them: the next read goes on
                self._fail(f"reading {self.path} failed: {exc.strerror or exc}")
                return
            if not data:  # a FIFO whose writer left
                self._lines.flush()
                self._fail(f"{self.path} ended")
                return
            # /dev/kmsg gives one record per read; a FIFO may give several: one record per line that does
            # not start with a space (those are a record's continuation lines).
            for line in data.split(b"\n"):
                if line and not line.startswith(b" "):
                    record = parse_record(line)
                    if record is not None:
                        self._lines.line(record.message, record.boot_usec)

    def _fail(self, reason: str) -> None:
        self.error = reason
        self.close()

    def close(self) -> None:
        self._lines.flush()
        if self.fd is not None:
            self.loop.remove(self.fd)
            os.close(self.fd)
            self.fd = None


class JournalKernelLog:
    """The kernel's lines as journald stored them (_TRANSPORT=kernel): the system journal, or the journal
    files of one directory (a container's, or a test's).

    Reads through systemd-python's C reader (`systemd._reader`), not its `journal` module: the wrapper
    converts every field of every entry and pulls in uuid, platform and syslog (+0.33 MB RSS in a daemon
    with a 25 MB budget); the kernel lines need MESSAGE and one timestamp, as bytes."""

    def __init__(self, loop: Loop, directory: str | None, on_kill: Callable[[OomKill], None]) -> None:
        self.loop = loop
        self.where = directory or "the system journal"
        self.fd: int | None = None
        self.error: str | None = None
        self._lines = OomLines(loop, on_kill)
        self._reader = None
        try:
            from systemd import _reader
        except ImportError:
            self.error = "systemd-python is not installed"
            return
        self._append = _reader.APPEND
        self._invalidate = _reader.INVALIDATE
        if directory is None and not os.path.exists(JOURNALD_SOCKET):
            self.error = "journald is not running"
            return
        if directory is not None and not os.path.isdir(directory):
            self.error = f"no journal directory {directory}"
            return
        try:
            if directory:
                reader = _reader._Reader(flags=0, path=directory)
            else:
                reader = _reader._Reader(flags=_reader.SYSTEM_ONLY | _reader.LOCAL_ONLY)
                # Opening succeeds with no files at all when they are not ours to read: say why instead.
                if not (reader.has_runtime_files() or reader.has_persistent_files()):
                    reader.close()
                    self.error = "the system journal is not readable (memmond is not in the systemd-journal group)"
                    return
            reader.add_match(b"_TRANSPORT=kernel")
            reader.seek_tail()
            reader._previous()  # on the newest entry: _next() gives only what comes after it
            fd = reader.fileno()
            loop.add(fd, READ, self._on_readable)
        except (OSError, ValueError) as exc:
            self.error = f"cannot read {self.where}: {exc}"
            return
        self._reader = reader
        self.fd = fd

    def _on_readable(self, mask: int) -> None:
        reader = self._reader
        if reader is None:
            return
        try:
            if reader.process() not in (self._append, self._invalidate):
                return
            while reader._next():  # to the end: the fd may not wake again for what is left
                entry = reader._get_all()
                message = entry.get("MESSAGE")
                if isinstance(message, bytes):
                    usec = entry.get("_SOURCE_MONOTONIC_TIMESTAMP", b"0")
                    boot_usec = int(usec) if isinstance(usec, bytes) and usec.isdigit() else 0
                    self._lines.line(message.decode("utf-8", "replace"), boot_usec)
        except OSError as exc:
            self.error = f"reading {self.where} failed: {exc}"
            self.close()

    def close(self) -> None:
        self._lines.flush()
        if self.fd is not None:
            self.loop.remove(self.fd)
            self.fd = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
