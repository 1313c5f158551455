"""How much of a file is in the page cache: cachestat(2) where the kernel has it, mincore(2) otherwise.

cachestat (Linux 6.5+, syscall 451 on x86_64 and arm64) answers from the page cache's own bookkeeping:
resident, dirty, under writeback, evicted and recently evicted pages, without touching the file's
pages. The fallback maps the file and asks mincore(2) which pages are resident; it needs read access
and only knows resident or not. Neither reads the file's data, so measuring does not change the cache.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import platform
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PAGE_SIZE = mmap.PAGESIZE
CACHESTAT_SYSCALL = {"x86_64": 451, "aarch64": 451, "arm64": 451}.get(platform.machine())
MINCORE_CHUNK_BYTES = 256 * 1024 * 1024  # map big files a window at a time: bounded address space and vec


class PageCacheError(OSError):
    """A file whose residency cannot be measured (missing, unreadable, not a regular file)."""


@dataclass(frozen=True)
class Residency:
    path: str
    size_bytes: int
    pages: int
    resident_pages: int
    method: str  # "cachestat" or "mincore"
    dirty_pages: int | None = None  # cachestat only, like the three below
    writeback_pages: int | None = None
    evicted_pages: int | None = None
    recently_evicted_pages: int | None = None

    @property
    def resident_bytes(self) -> int:
        return self.resident_pages * PAGE_SIZE

    @property
    def resident_ratio(self) -> float:
        return self.resident_pages / self.pages if self.pages else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "pages": self.pages,
            "page_size": PAGE_SIZE,
            "resident_pages": self.resident_pages,
            "resident_bytes": self.resident_bytes,
            "resident_ratio": self.resident_ratio,
            "dirty_pages": self.dirty_pages,
            "writeback_pages": self.writeback_pages,
            "evicted_pages": self.evicted_pages,
            "recently_evicted_pages": self.recently_evicted_pages,
            "method": self.method,
        }


class _CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Cachestat(ctypes.Structure):
    _fields_ = [
        ("nr_cache", ctypes.c_uint64),
        ("nr_dirty", ctypes.c_uint64),
        ("nr_writeback", ctypes.c_uint64),
        ("nr_evicted", ctypes.c_uint64),
        ("nr_recently_evicted", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_MAP_FAILED = ctypes.c_void_p(-1).value
_cachestat_works: bool | None = None  # learnt on first use: ENOSYS on kernels before 6.5


def _cachestat(fd: int) -> _Cachestat | None:
    """The whole file's counts, or None when the kernel has no cachestat."""
    global _cachestat_works
    if CACHESTAT_SYSCALL is None or _cachestat_works is False:
        return None
    span = _CachestatRange(0, 0)  # len 0: to the end of the file
    stats = _Cachestat()
    result = _libc.syscall(
        CACHESTAT_SYSCALL, ctypes.c_uint(fd), ctypes.byref(span), ctypes.byref(stats), ctypes.c_uint(0)
    )
    if result != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter that does not know the call
            _cachestat_works = False
            return None
        raise PageCacheError(err, f"cachestat: {os.strerror(err)}")
    _cachestat_works = True
    return stats


def _mincore_resident(fd: int, size: int) -> int:
    resident = 0
    offset = 0
    while offset < size:
        length = min(MINCORE_CHUNK_BYTES, size - offset)
        address = _libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, offset)
        if address in (None, _MAP_FAILED):
            err = ctypes.get_errno()
            raise PageCacheError(err, f"mmap: {os.strerror(err)}")
        try:
            pages = (length + PAGE_SIZE - 1) // PAGE_SIZE
            vec = ctypes.create_string_buffer(pages)
            if _libc.mincore(address, length, vec) != 0:
                err = ctypes.get_errno()
                raise PageCacheError(err, f"mincore: {os.strerror(err)}")
            resident += sum(byte & 1 for byte in vec.raw)
        finally:
            _libc.munmap(address, length)
        offset += length
    return resident


def residency(path: str | os.PathLike[str], method: str = "auto") -> Residency:
    """Measure one regular file. `method`: auto (cachestat when the kernel has it), cachestat, mincore."""
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise PageCacheError(exc.errno, f"{name}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PageCacheError(errno.EINVAL, f"{name}: not a regular file")
        size = info.st_size
        pages = (size + PAGE_SIZE - 1) // PAGE_SIZE
        if method in ("auto", "cachestat"):
            stats = _cachestat(fd)
            if stats is not None:
                return Residency(
                    name,
                    size,
                    pages,
                    min(stats.nr_cache, pages) if pages else stats.nr_cache,
                    "cachestat",
                    stats.nr_dirty,
                    stats.nr_writeback,
                    stats.nr_evicted,
                    stats.nr_recently_evicted,
                )
            if method == "cachestat":
                raise PageCacheError(errno.ENOSYS, "this kernel has no cachestat() (Linux 6.5+)")
        return Residency(name, size, pages, _mincore_resident(fd, size) if size else 0, "mincore")
    finally:
        os.close(fd)


def walk(paths: list[str], max_files: int) -> Iterator[str]:
    """Regular files under `paths` (files as given, directories recursively in name order, symlinks
    inside directories not followed), at most `max_files`."""
    count = 0
    for top in paths:
        if os.path.isdir(top) and not os.path.islink(top):
            for root, dirs, files in os.walk(top):
                dirs.sort()
                for file_name in sorted(files):
                    full = os.path.join(root, file_name)
                    if os.path.islink(full) or not os.path.isfile(full):
                        continue
                    if count >= max_files:
                        return
                    count += 1
                    yield full
        else:
            if count >= max_files:
                return
            count += 1
            yield top


def cachestat_supported() -> bool:
    """Whether this kernel answers cachestat (probes once, on a file every system has)."""
    if _cachestat_works is None:
        with contextlib.suppress(PageCacheError):
            residency(Path("/proc/self/exe").resolve(), "auto")
    return bool(_cachestat_works)
