"""Access to a procfs tree rooted anywhere.

Every /proc read in memmond goes through `ProcFS`, so tests, fault injection and users pointing memmond at a
captured tree (`--procfs DIR`) exercise the very code path the daemon runs on /proc.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

DEFAULT_ROOT = Path("/proc")

# /proc files report st_size 0, so reads go by chunks. 64 KiB covers meminfo, vmstat and status in one
# read(2); larger files (a huge injected file) take more chunks but stay bounded by MAX_SOURCE_BYTES.
_CHUNK = 65536
MAX_SOURCE_BYTES = 4 * 1024 * 1024


class SourceError(Exception):
    """A kernel source could not be read or made no sense. The sampling loop turns it into source_up 0."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class SourceUnavailable(SourceError):
    """The kernel does not offer this source at all (no PSI, no such process): a state, not a fault."""


class ProcFS:
    """A procfs root. Hands out paths and reads files with errors mapped to SourceError."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self._paths: dict[str, str] = {}  # relative -> full path string; joined once, read every sample
        # The real /proc regenerates a file on every read from offset 0, so the files read every sample
        # stay open and are read with one pread(2): no path walk, open and close each second. A captured
        # tree (tests, --procfs DIR) is opened afresh every time, as files there may be replaced.
        self._live = os.path.realpath(self.root) == "/proc"
        self._kept = KeptOpen(_CHUNK)

    def __repr__(self) -> str:
        return f"ProcFS({str(self.root)!r})"

    def path(self, relative: str) -> Path:
        return self.root / relative

    def read_bytes(self, relative: str, source: str | None = None, records: bool = False) -> bytes:
        """Read a whole file. ENOENT and EOPNOTSUPP (PSI disabled with psi=0) mean the kernel does not offer
        the source: SourceUnavailable. Anything else (EACCES, EIO, oversize) is a SourceError."""
        name = source or relative
        full = self._paths.get(relative)
        if full is None:
            full = self._paths[relative] = os.path.join(self.root, relative)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise SourceUnavailable(name, f"{full} does not exist") from None
        except OSError as exc:
            raise SourceError(name, _describe(exc, full)) from None
        try:
            chunks = []
            total = 0
            while True:
                chunk = os.read(fd, _CHUNK)
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_SOURCE_BYTES:  # before the EOF check: the last, short chunk counts too
                    raise SourceError(name, f"{full} is larger than {MAX_SOURCE_BYTES} bytes")
                # A short read is EOF for a single-record procfs file (meminfo, vmstat, status: seq_file
                # fills the buffer until the end) and regular files alike; stopping here saves a read(2)
                # per file and sample. A file of many records (slabinfo, a kstat) hands out a few records
                # a read: `records` reads on until an empty read.
                if not chunk if records else len(chunk) < _CHUNK:
                    break
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                raise SourceUnavailable(name, _describe(exc, full)) from None
            raise SourceError(name, _describe(exc, full)) from None
        finally:
            os.close(fd)
        return b"".join(chunks)

    def read_text(self, relative: str, source: str | None = None, records: bool = False) -> str:
        # /proc/PID/status carries the process name, which may hold any bytes; never fail on decoding.
        return self.read_bytes(relative, source, records).decode("utf-8", "replace")

    def read_sample_text(self, relative: str, source: str | None = None) -> str:
        """read_text for the files of every sample (meminfo, vmstat, pressure)."""
        if self._live:
            kept = self._kept
            fd = kept.fds.get(relative)
            if fd is None:
                try:
                    fd = kept.fds[relative] = os.open(os.path.join(self.root, relative), os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    fd = None  # the ordinary path says what is wrong
            if fd is not None:
                text = kept.read(relative, fd)
                if text is not None:
                    return text
        return self.read_text(relative, source)

    def close(self) -> None:
        self._kept.close()


class KeptOpen:
    """Kernel files kept open and read with one pread(2) from offset 0 into one reused buffer: procfs and
    cgroupfs regenerate a file on every read from offset 0, so a file read every second costs no path
    walk, open and close, and no buffer allocated (os.pread made and shrank one per file and read). What
    cannot be read this way (an error, a file as large as the buffer) is forgotten, for the caller to
    read the ordinary way, which says why."""

    def __init__(self, size: int) -> None:
        self.fds: dict[str, int] = {}  # the caller's key (a path) -> descriptor
        self._buffer = bytearray(size)
        self._view = memoryview(self._buffer)

    def read(self, key: str, fd: int) -> str | None:
        """The text behind `fd`, kept under `key`; None (and the file forgotten) when the read failed or
        filled the buffer."""
        try:
            size = os.preadv(fd, (self._buffer,), 0)
        except OSError:
            size = len(self._buffer)
        if size >= len(self._buffer):
            self.forget(key)
            return None
        return str(self._view[:size], "utf-8", "replace")

    def forget(self, key: str) -> None:
        fd = self.fds.pop(key, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for key in list(self.fds):
            self.forget(key)


def _describe(exc: OSError, path: str) -> str:
    return f"cannot read {path}: {exc.strerror or exc}"
