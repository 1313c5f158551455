"""Watched files and processes: sampled at their own, slower interval (`watch.interval`), because
measuring a large file's residency or finding processes by name costs more than a meminfo read, and
their numbers change slowly. Each watched item is one label value, so the config caps their number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from memmond.sources import process
from memmond.sources.procfs import ProcFS, SourceError

MAX_WATCHED_FILES = 32
MAX_WATCHED_PROCESSES = 32
MAX_FILES_PER_DIRECTORY = 10000  # a watched directory is summed over at most this many files


@dataclass(frozen=True)
class ProcessWatch:
    name: str  # the label; also what is matched when there is no pidfile
    pidfile: str | None = None


@dataclass(frozen=True)
class FileSample:
    path: str
    error: str | None = None
    files: int = 0
    size_bytes: int = 0
    resident_bytes: int = 0
    dirty_bytes: int | None = None  # cachestat only, like the three below
    writeback_bytes: int | None = None
    evicted_bytes: int | None = None
    recently_evicted_bytes: int | None = None


@dataclass(frozen=True)
class ProcessSample:
    name: str
    pids: tuple[int, ...] = ()
    error: str | None = None
    rss_bytes: int = 0
    anon_bytes: int = 0
    file_bytes: int = 0
    shmem_bytes: int = 0
    swap_bytes: int = 0
    hwm_max_bytes: int = 0  # the largest VmHWM among them: peaks of different processes do not add up
    pss_bytes: int | None = None  # when every smaps_rollup was readable


def sample_file(path: str) -> FileSample:
    """One watched path: a file, or a directory summed over its files."""
    from memmond.sources import pagecache  # ctypes and libc only when files are watched

    results = []
    errors = []
    for name in pagecache.walk([path], MAX_FILES_PER_DIRECTORY):
        try:
            results.append(pagecache.residency(name))
        except pagecache.PageCacheError as exc:
            errors.append(str(exc.strerror or exc))
    if not results:
        return FileSample(path, error=errors[0] if errors else "no regular files")
    page = pagecache.PAGE_SIZE

    def total(attribute: str) -> int | None:
        values = [getattr(r, attribute) for r in results]
        return None if any(v is None for v in values) else sum(values) * page

    return FileSample(
        path=path,
        files=len(results),
        size_bytes=sum(r.size_bytes for r in results),
        resident_bytes=sum(r.resident_bytes for r in results),
        dirty_bytes=total("dirty_pages"),
        writeback_bytes=total("writeback_pages"),
        evicted_bytes=total("evicted_pages"),
        recently_evicted_bytes=total("recently_evicted_pages"),
    )


def _argv0(procfs: ProcFS, pid: int) -> str:
    try:
        raw = procfs.read_bytes(f"{pid}/cmdline")
    except SourceError:
        return ""
    return os.path.basename(raw.split(b"\0", 1)[0].decode("utf-8", "replace"))


def find_processes(procfs: ProcFS, name: str) -> list[int]:
    """PIDs whose name is `name`: the kernel's Name (comm). comm is cut at 15 characters, so a longer name
    matches when comm is its first 15 characters and argv[0]'s base name is the whole name."""
    pids = []
    try:
        entries = os.listdir(procfs.root)
    except OSError:
        return []
    comm_name = name[:15]
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            status = process.parse_status(procfs.read_text(f"{pid}/status", "process"))
        except SourceError:
            continue  # exited meanwhile, or not readable
        if status.name == name or (len(name) > 15 and status.name == comm_name and _argv0(procfs, pid) == name):
            pids.append(pid)
    return sorted(pids)


def _pid_from_file(pidfile: str) -> int:
    with open(pidfile) as handle:
        text = handle.read().strip()
    if not text.isdigit():
        raise ValueError(f"{pidfile} does not hold a process id")
    return int(text)


def sample_process(procfs: ProcFS, watch: ProcessWatch) -> ProcessSample:
    try:
        pids = [_pid_from_file(watch.pidfile)] if watch.pidfile else find_processes(procfs, watch.name)
    except (OSError, ValueError) as exc:
        return ProcessSample(watch.name, error=str(getattr(exc, "strerror", None) or exc))
    memories = []
    for pid in pids:
        try:
            memories.append(process.read(procfs, pid))
        except SourceError:
            continue  # exited between the scan and the read
    if not memories:
        return ProcessSample(watch.name, error="no such process")

    def total(field: str) -> int:
        return sum(m.status.memory.get(field, 0) for m in memories)

    pss = None
    if all(m.rollup is not None and m.rollup.pss is not None for m in memories):
        pss = sum(m.rollup.pss for m in memories if m.rollup is not None and m.rollup.pss is not None)
    return ProcessSample(
        name=watch.name,
        pids=tuple(m.status.pid for m in memories),
        rss_bytes=total("VmRSS"),
        anon_bytes=total("RssAnon"),
        file_bytes=total("RssFile"),
        shmem_bytes=total("RssShmem"),
        swap_bytes=total("VmSwap"),
        hwm_max_bytes=max(m.status.memory.get("VmHWM", 0) for m in memories),
        pss_bytes=pss,
    )
