"""File I/O impact analysis: what writing or reading a file does to the page cache and memory.

A snapshot before the operation, one right after it, and one after `sync`, plus the file's own page
cache residency at each point, tell the story the README's "What the numbers mean" section describes:
written data lands in memory as dirty page cache, MemFree falls, MemAvailable falls much less, and
writeback later makes the pages clean without dropping them.

    from memmond.model.io_impact import write_file_and_analyze
    impact = write_file_and_analyze("/var/tmp/test.dat", b"\\0" * (10 << 20))
    print(impact.summary())
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from memmond import format as fmt
from memmond.model.snapshot import Sampler, Snapshot
from memmond.sources.pagecache import PageCacheError, Residency, residency

# The meminfo fields an analysis reports, in the order people read them.
FIELDS = ("MemFree", "MemAvailable", "Cached", "Buffers", "Dirty", "Writeback", "Active(file)", "Inactive(file)")
DEFAULT_BLOCK_SIZE = 1024 * 1024

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(frozen=True)
class IOImpact:
    operation: str  # "write" or "read"
    path: str
    size_bytes: int
    seconds: float
    fsync: bool
    before: Snapshot = field(repr=False)
    after: Snapshot = field(repr=False)
    after_sync: Snapshot = field(repr=False)
    file_before: Residency | None
    file_after: Residency | None
    file_after_sync: Residency | None

    def delta(self, name: str, synced: bool = False) -> int:
        """Change of a meminfo field from before the operation to right after it (or after sync)."""
        end = self.after_sync if synced else self.after
        return (end.mem_field(name) or 0) - (self.before.mem_field(name) or 0)

    def file_resident_bytes(self, which: str) -> int:
        result = {"before": self.file_before, "after": self.file_after, "after_sync": self.file_after_sync}[which]
        return result.resident_bytes if result is not None else 0

    # -- verdicts, as in the seed's FileOperations analysis -------------------------------------------------
    @property
    def caused_cache_growth(self) -> bool:
        """Cached grew by at least half of what was moved."""
        return self.delta("Cached") >= self.size_bytes / 2

    @property
    def freed_memory(self) -> bool:
        """MemFree was higher after the operation than before it (something was reclaimed meanwhile)."""
        return self.delta("MemFree") > 0

    @property
    def dirtied_pages(self) -> bool:
        """Dirty grew by at least half of what was written: the data waited in memory for writeback."""
        return self.operation == "write" and self.delta("Dirty") >= self.size_bytes / 2

    @property
    def written_back(self) -> bool:
        """After sync, Dirty is back within a tenth of the data size of where it started."""
        return self.operation == "write" and self.delta("Dirty", synced=True) < self.size_bytes / 10

    def verdicts(self) -> dict[str, bool]:
        return {
            name: getattr(self, name)
            for name in ("caused_cache_growth", "freed_memory", "dirtied_pages", "written_back")
        }

    # -- words ------------------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line, like the seed's analysis.summary()."""
        verb = "wrote" if self.operation == "write" else "read"
        return (
            f"{verb} {fmt.iec(self.size_bytes)} in {self.seconds:.2f} s: "
            f"Cached {fmt.signed_iec(self.delta('Cached'))}, "
            f"Dirty {fmt.signed_iec(self.delta('Dirty'))}, MemFree {fmt.signed_iec(self.delta('MemFree'))}, "
            f"MemAvailable {fmt.signed_iec(self.delta('MemAvailable'))}; file resident "
            f"{fmt.percent(self.file_after.resident_ratio if self.file_after else 0)}"
        )

    def moved(self, name: str) -> str:
        """A field's change in words with the right verb: 'rose by 4.0 MiB', 'fell by 1.2 MiB', 'did not
        change'. Every sentence about a change goes through here, so none can say "fell by -196.0 KiB"."""
        change = self.delta(name)
        if change == 0:
            return "did not change"
        return f"{'rose' if change > 0 else 'fell'} by {fmt.iec(abs(change))}"

    def explanation(self) -> list[str]:
        """What happened and why, in plain language (the README's page cache section is the reference)."""
        size = fmt.iec(self.size_bytes)
        lines = []
        cached, dirty, free = self.moved("Cached"), self.moved("Dirty"), self.moved("MemFree")
        if self.operation == "write":
            if self.fsync:
                lines.append(
                    f"Writing {size} with fsync sent the data to disk before returning: Dirty {dirty}, while "
                    f"Cached {cached}: the written pages stay cached, clean."
                )
            elif self.dirtied_pages:
                lines.append(
                    f"Writing {size} put the data in memory first: Dirty {dirty} and Cached {cached}, while "
                    f"MemFree {free}."
                )
            else:
                lines.append(
                    f"Writing {size}: Dirty {dirty} and Cached {cached}; the flusher threads had already "
                    "started writing it back."
                )
        else:
            resident_before = fmt.percent(self.file_before.resident_ratio if self.file_before else 0)
            lines.append(f"Reading {size} ({resident_before} of it cached before): Cached {cached}, MemFree {free}.")
        inactive, active = self.moved("Inactive(file)"), self.moved("Active(file)")
        if self.delta("Inactive(file)") > max(self.delta("Active(file)"), 0):
            lines.append(
                f"New file pages start on the inactive list: Inactive(file) {inactive}, Active(file) {active}. "
                "Reclaim takes inactive pages first."
            )
        elif self.delta("Active(file)") > 0:
            lines.append(
                f"Active(file) {active} and Inactive(file) {inactive}: pages used twice while cached are "
                "promoted to the active list."
            )
        lines.append(self._available_sentence())
        if self.operation == "write":
            if self.written_back:
                resident = fmt.percent(self.file_after_sync.resident_ratio if self.file_after_sync else 0)
                lines.append(
                    f"After sync the dirty pages were written back (Dirty "
                    f"{fmt.signed_iec(self.delta('Dirty', synced=True))} against the start) and stay in the "
                    f"cache as clean pages: {resident} of the file is still resident."
                )
            else:
                lines.append(
                    "Even after sync Dirty has not returned to where it started: other writers are busy, "
                    "or the device is slow."
                )
        if self.freed_memory:
            lines.append(
                f"MemFree ended higher than it started ({fmt.signed_iec(self.delta('MemFree'))}): reclaim "
                "or another process freed memory meanwhile."
            )
        return lines

    def _available_sentence(self) -> str:
        """MemAvailable against MemFree, claiming "less than" only when it was clearly less."""
        free_change, available_change = self.delta("MemFree"), self.delta("MemAvailable")
        available, free = self.moved("MemAvailable"), self.moved("MemFree")
        if free_change < 0 and available_change - free_change > abs(free_change) / 4:
            if available_change < 0:
                return (
                    f"MemAvailable {available}, less than MemFree ({fmt.iec(-free_change)}): the kernel counts "
                    "page cache as available because it can reclaim it."
                )
            return (
                f"MemAvailable {available} while MemFree {free}: the kernel counts page cache as available "
                "because it can reclaim it."
            )
        return f"MemAvailable {available}, MemFree {free}."

    def to_dict(self) -> dict[str, object]:
        return {
            "operation": self.operation,
            "path": self.path,
            "size_bytes": self.size_bytes,
            "seconds": self.seconds,
            "fsync": self.fsync,
            "deltas_bytes": {name: self.delta(name) for name in FIELDS},
            "deltas_after_sync_bytes": {name: self.delta(name, synced=True) for name in FIELDS},
            "file_before": self.file_before.to_dict() if self.file_before else None,
            "file_after": self.file_after.to_dict() if self.file_after else None,
            "file_after_sync": self.file_after_sync.to_dict() if self.file_after_sync else None,
            "verdicts": self.verdicts(),
            "explanation": self.explanation(),
            "summary": self.summary(),
        }


def _residency_or_none(path: str) -> Residency | None:
    try:
        return residency(path)
    except PageCacheError:
        return None


def _finish(
    operation: str,
    path: str,
    size: int,
    seconds: float,
    fsync: bool,
    sampler: Sampler,
    before: Snapshot,
    file_before: Residency | None,
) -> IOImpact:
    after = sampler.capture()
    file_after = _residency_or_none(path)
    os.sync()
    after_sync = sampler.capture()
    file_after_sync = _residency_or_none(path)
    return IOImpact(
        operation, path, size, seconds, fsync, before, after, after_sync, file_before, file_after, file_after_sync
    )


def write_file_and_analyze(
    path: str | os.PathLike[str],
    data: bytes | None = None,
    *,
    size: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    fsync: bool = False,
    force: bool = False,
    keep: bool = True,
    sampler: Sampler | None = None,
    progress: Progress | None = None,
) -> IOImpact:
    """Write `data` (or `size` bytes of incompressible filler) to `path` and analyse the effect.

    Refuses to replace an existing file unless `force`; removes the file afterwards unless `keep`."""
    name = os.fspath(path)
    if data is None and size is None:
        raise ValueError("give data or size")
    total = len(data) if data is not None else int(size or 0)
    if os.path.exists(name) and not force:
        raise FileExistsError(f"{name} exists; refusing to overwrite it (--force replaces it)")
    filler = os.urandom(block_size) if data is None else b""
    sampler = sampler or Sampler()
    file_before = _residency_or_none(name) if os.path.exists(name) else None
    before = sampler.capture()
    started = time.monotonic()
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            done = 0
            while done < total:
                chunk = min(block_size, total - done)
                block = data[done : done + chunk] if data is not None else filler[:chunk]
                done += os.write(fd, block)
                if progress:
                    progress(done, total)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        seconds = time.monotonic() - started
        return _finish("write", name, total, seconds, fsync, sampler, before, file_before)
    finally:
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


def read_file_and_analyze(
    path: str | os.PathLike[str],
    *,
    drop_first: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    sampler: Sampler | None = None,
    progress: Progress | None = None,
) -> IOImpact:
    """Read the whole file and analyse the effect. `drop_first` evicts the file's own pages first
    (posix_fadvise DONTNEED after writing back its dirty pages: no root needed, other files untouched)."""
    name = os.fspath(path)
    sampler = sampler or Sampler()
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        total = os.fstat(fd).st_size
        if drop_first:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        file_before = _residency_or_none(name)
        before = sampler.capture()
        started = time.monotonic()
        done = 0
        while True:
            chunk = os.read(fd, block_size)
            if not chunk:
                break
            done += len(chunk)
            if progress:
                progress(done, total)
        seconds = time.monotonic() - started
    finally:
        os.close(fd)
    return _finish("read", name, done, seconds, False, sampler, before, file_before)
