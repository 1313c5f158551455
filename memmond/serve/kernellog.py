"""The kernel log in the daemon's event loop: every OOM kill, with its victim, the moment the kernel logs it.

/dev/kmsg is read from its end at start (old kills were counted by whoever ran then), without blocking,
whenever epoll says a record is there. It needs CAP_SYSLOG where kernel.dmesg_restrict=1 (Debian's
default); without it memmond says so once and per-cgroup counters (memory.events) still count kills.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable

from memmond.serve.loop import READ, Loop
from memmond.sources.kmsg import OomKill, add_sizes, parse_oom_kill, parse_record

log = logging.getLogger("memmond")
READS_PER_EVENT = 256


class KernelLog:
    def __init__(self, loop: Loop, path: str, on_kill: Callable[[OomKill], None]) -> None:
        self.loop = loop
        self.path = path
        self.on_kill = on_kill
        self.fd: int | None = None
        self.error: str | None = None
        self._pending: OomKill | None = None
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
                self._flush()
                self._fail(f"{self.path} ended")
                return
            # /dev/kmsg gives one record per read; a FIFO may give several: one record per line that does
            # not start with a space (those are a record's continuation lines).
            for line in data.split(b"\n"):
                if line and not line.startswith(b" "):
                    self._record(line)
        self._flush()

    def _record(self, line: bytes) -> None:
        record = parse_record(line)
        if record is None:
            return
        if self._pending is not None:
            sized = add_sizes(self._pending, record.message)
            if sized is not None:
                self._pending = None
                self.on_kill(sized)
                return
        kill = parse_oom_kill(record.message, record.boot_usec)
        if kill is not None:
            self._flush()
            self._pending = kill

    def _flush(self) -> None:
        """A kill whose size line never came is reported without sizes rather than not at all."""
        if self._pending is not None:
            kill, self._pending = self._pending, None
            self.on_kill(kill)

    def _fail(self, reason: str) -> None:
        self.error = reason
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            self.loop.remove(self.fd)
            os.close(self.fd)
            self.fd = None
