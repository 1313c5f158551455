"""cgroup memory: the unified hierarchy (cgroup v2), the v1 memory controller, and hybrid hosts, read into
one model so rules, exposition and CLI never ask which version a host runs.

- v2: memory.current, memory.peak, memory.min/low/high/max ("max" means no limit), memory.swap.*,
  memory.zswap.current, memory.stat (bytes and event counters), memory.events(.local), memory.pressure,
  cgroup.procs.
- v1 memory controller: memory.usage_in_bytes, max_usage, limit (the huge "unlimited" value means none),
  soft limit, failcnt, memory.memsw.*, memory.stat (its hierarchical total_* fields), memory.oom_control.
- Hybrid (a v1 memory controller beside a controller-less cgroup2 tree, as systemd's "hybrid" mode):
  memory figures from v1, pressure from the cgroup2 tree's memory.pressure at the same path.

Pure parsers (`parse_*`) plus a tree walk over a root directory; a cgroup that vanishes mid-walk is
skipped, not an error.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from memmond.sources import pressure
from memmond.sources._lines import SkippedLine
from memmond.sources.procfs import KeptOpen, ProcFS, SourceError

SOURCE = "cgroup"
# v1 writes "no limit" as PAGE_COUNTER_MAX pages in bytes (LONG_MAX rounded down to a page): anything this
# large is no limit on any page size.
V1_UNLIMITED = 1 << 62
DEFAULT_MAX_DEPTH = 3
_UNIT_SUFFIXES = (".slice", ".service", ".scope", ".socket", ".mount", ".swap")
_CONTAINER_ID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{64}$")
# memory.stat fields that count events; every other field is an amount in bytes.
_COUNTER_PREFIXES = ("pg", "workingset_", "thp_", "zswpin", "zswpout", "zswpwb", "numa_")
LIMIT_KINDS = ("max", "high", "low", "min", "soft")


def is_counter(stat_field: str) -> bool:
    """An event counter in memory.stat (pgfault, workingset_refault_file, ...), not a byte amount."""
    return stat_field.startswith(_COUNTER_PREFIXES)


# -- pure parsers -------------------------------------------------------------------------------------------


def parse_value(text: str) -> int | None:
    """A one-number file (memory.current, memory.max). None for "max": no limit."""
    value = text.strip()
    if value == "max":
        return None
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"expected a number or 'max', got {value[:40]!r}")
    return int(value)


def parse_v1_limit(text: str) -> int | None:
    """A v1 limit file: bytes, or None for the kernel's "unlimited" (PAGE_COUNTER_MAX pages)."""
    value = parse_value(text)
    return None if value is None or value >= V1_UNLIMITED else value


def parse_flat(text: str) -> tuple[dict[str, int], tuple[SkippedLine, ...]]:
    """A flat-keyed file ("name value" lines: memory.stat, memory.events, memory.oom_control). Any field a
    newer kernel adds comes through; malformed lines are skipped and named."""
    tokens = text.split()
    if len(tokens) == 2 * text.count("\n") + (0 if text.endswith("\n") or not text else 2):
        # Well formed (every line "name value"), as the kernel writes it: one C-level pass.
        names, numbers = tokens[0::2], tokens[1::2]
        digits = "".join(numbers)  # every value plain digits: one C-level check of them joined
        if digits.isascii() and digits.isdigit() and len(set(names)) == len(names):
            return dict(zip(names, map(int, numbers), strict=True)), ()
    values: dict[str, int] = {}
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isascii() or not parts[1].lstrip("-").isdigit():
            skipped.append(SkippedLine(lineno, line, "expected 'name value'"))
            continue
        if parts[0] in values:
            skipped.append(SkippedLine(lineno, line, f"duplicate field {parts[0]}"))
            continue
        values[parts[0]] = int(parts[1])
    return values, tuple(skipped)


def count_procs(text: str) -> int:
    """cgroup.procs: one PID a line."""
    return sum(1 for line in text.splitlines() if line.strip())


def unit_of(path: str) -> str:
    """The systemd unit a cgroup path belongs to: its last component that names a unit ("" for none).
    "/system.slice/nginx.service/workers" -> "nginx.service"."""
    for part in reversed(path.strip("/").split("/")):
        if part.endswith(_UNIT_SUFFIXES):
            return part
    return ""


def shown_by_default(name: str) -> bool:
    """Units (slices, services, scopes, ...) and container ids: what an operator asks about."""
    return name.endswith(_UNIT_SUFFIXES) or _CONTAINER_ID.match(name) is not None


# -- the model ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupMemory:
    """One cgroup's memory, whichever cgroup version it came from. Bytes throughout; None where this
    kernel or version has no such figure (never a made-up 0)."""

    path: str  # "/" for the root, "/system.slice/nginx.service"
    unit: str  # the systemd unit, or ""
    version: int  # 1 or 2
    current: int | None
    peak: int | None = None
    limits: Mapping[str, int] = field(default_factory=dict)  # kind (max, high, low, min, soft) -> bytes; absent: none
    swap: int | None = None
    swap_limit: int | None = None
    zswap: int | None = None
    anon: int | None = None
    file: int | None = None
    shmem: int | None = None
    kernel: int | None = None
    inactive_file: int | None = None
    stat: Mapping[str, int] = field(default_factory=dict)  # every memory.stat field (v1: total_*, prefix dropped)
    events: Mapping[str, int] = field(default_factory=dict)  # low, high, max, oom, oom_kill, oom_group_kill, ...
    events_local: Mapping[str, int] = field(default_factory=dict)
    under_oom: bool | None = None  # v1 oom_control
    pressure: pressure.Pressure | None = None
    procs: int | None = None
    skipped: tuple[str, ...] = ()  # "memory.stat:3: ..." lines the parsers skipped

    @property
    def working_set(self) -> int | None:
        """current - inactive_file, floored at 0: cAdvisor's definition, what the OOM killer cannot easily
        reclaim (the raw fields are beside it for other definitions)."""
        if self.current is None or self.inactive_file is None:
            return None
        return max(0, self.current - self.inactive_file)

    @property
    def limit(self) -> int | None:
        """The hard limit (memory.max / limit_in_bytes), None when there is none."""
        return self.limits.get("max")

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/"


# -- reading one cgroup -------------------------------------------------------------------------------------


class CgroupGone(Exception):
    """The cgroup was removed while being read: skip it, it is not an error."""


MAX_FILE_BYTES = 1 << 20
_CHUNK = 8192  # a read this size; os.read allocates its whole buffer first


def _open(directory: Path | str, path: str) -> int | None:
    """An open descriptor of a cgroup file; None when this kernel has no such file or it is unreadable
    (absent, not fatal); CgroupGone when the cgroup itself is gone."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not os.path.isdir(directory):
            raise CgroupGone(str(directory)) from None
        return None
    except OSError:
        return None


def _read(directory: Path | str, name: str) -> str | None:
    """A cgroup file's text: os.open/os.read on a str path, no file object (a walk reads thousands)."""
    fd = _open(directory, f"{directory}/{name}")
    if fd is None:
        return None
    try:
        chunks = [os.read(fd, _CHUNK)]  # one read for nearly every cgroup file
        while len(chunks[-1]) == _CHUNK and len(chunks) * _CHUNK < MAX_FILE_BYTES:  # cgroup.procs of thousands
            chunks.append(os.read(fd, _CHUNK))
    except OSError:
        return None  # EINVAL on write-only files, ENODEV on a cgroup being removed
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


class Files:
    """How a walk reads cgroup files: this one opens, reads and closes each (a one-shot walk: the CLI)."""

    def read(self, directory: Path | str, name: str) -> str | None:
        return _read(directory, name)

    def sweep(self) -> None:
        """A walk ended (KeptFiles closes what it did not read)."""

    def close(self) -> None:
        """Nothing kept."""


ONCE = Files()
KEPT_FILES_MAX = 512  # the daemon's open-file budget counts them (raise_fd_limit)


class KeptFiles(Files):
    """Keeps the files a walk reads open for the next one and reads each with one pread(2): the daemon walks
    every second, and opening and closing ~8 files a cgroup was a fifth of a walk's cost. Only for the
    kernel's cgroup filesystems (trees found in the mount table): there a removed cgroup's open files
    fail with ENODEV, also when a cgroup of the same name is made again, where a regular file (a fixture
    tree) unlinked and written anew would be read stale through its old descriptor. A failed read closes
    the file and reads it the ordinary way, which tells a removed cgroup from a missing file; a file not
    read in a walk (its cgroup left the selection or the tree) is closed at the walk's end; past
    KEPT_FILES_MAX (a tree of thousands of cgroups ranked each walk) files are read the ordinary way."""

    def __init__(self, limit: int = KEPT_FILES_MAX) -> None:
        self.limit = limit
        self.kept = KeptOpen(_CHUNK)
        self._read_this_walk: set[str] = set()

    @property
    def fds(self) -> dict[str, int]:
        """path -> descriptor of the files kept open now."""
        return self.kept.fds

    def read(self, directory: Path | str, name: str) -> str | None:
        path = f"{directory}/{name}"
        fds = self.kept.fds
        fd = fds.get(path)
        if fd is None:
            if len(fds) >= self.limit:
                return _read(directory, name)
            fd = _open(directory, path)
            if fd is None:
                return None
            fds[path] = fd
        text = self.kept.read(path, fd)
        if text is None:  # ENODEV: the cgroup was removed (and perhaps made again); or cgroup.procs of thousands
            self._read_this_walk.discard(path)
            return _read(directory, name)
        self._read_this_walk.add(path)
        return text

    def sweep(self) -> None:
        read = self._read_this_walk
        for path in [path for path in self.kept.fds if path not in read]:
            self.kept.forget(path)
        read.clear()

    def close(self) -> None:
        self.kept.close()


def _value(files: Files, directory: Path, name: str, parse: Callable[[str], int | None] = parse_value) -> int | None:
    text = files.read(directory, name)
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError:
        return None


def _flat(files: Files, directory: Path, name: str, skipped: list[str]) -> dict[str, int]:
    text = files.read(directory, name)
    if text is None:
        return {}
    values, bad = parse_flat(text)
    skipped.extend(f"{name}:{line.lineno}: {line.reason}" for line in bad)
    return values


def _pressure(files: Files, directory: Path | None) -> pressure.Pressure | None:
    if directory is None:
        return None
    text = files.read(directory, "memory.pressure")
    if text is None:
        return None
    try:
        return pressure.parse(text)
    except Exception:  # a garbled pressure file is "no pressure figure", never a dead walk
        return None


def read_v2(directory: Path, path: str, everything: bool = True, files: Files = ONCE) -> CgroupMemory:
    """`everything` False reads only what the daemon's basic detail exports (9 files, not 14)."""
    skipped: list[str] = []
    stat = _flat(files, directory, "memory.stat", skipped)
    limits = {}
    for kind in ("max", "high", "low", "min"):
        value = _value(files, directory, f"memory.{kind}")
        if value is not None and (kind in ("max", "high") or value > 0):  # low/min 0 is "no protection"
            limits[kind] = value
    procs_text = files.read(directory, "cgroup.procs") if everything else None
    return CgroupMemory(
        path=path,
        unit=unit_of(path),
        version=2,
        current=_value(files, directory, "memory.current"),
        peak=_value(files, directory, "memory.peak") if everything else None,
        limits=limits,
        swap=_value(files, directory, "memory.swap.current"),
        swap_limit=_value(files, directory, "memory.swap.max") if everything else None,
        zswap=_value(files, directory, "memory.zswap.current") if everything else None,
        anon=stat.get("anon"),
        file=stat.get("file"),
        shmem=stat.get("shmem"),
        kernel=stat.get("kernel"),
        inactive_file=stat.get("inactive_file"),
        stat=stat,
        events=_flat(files, directory, "memory.events", skipped),
        events_local=_flat(files, directory, "memory.events.local", skipped) if everything else {},
        pressure=_pressure(files, directory),
        procs=count_procs(procs_text) if procs_text is not None else None,
        skipped=tuple(skipped),
    )


def read_v1(
    directory: Path,
    path: str,
    pressure_directory: Path | None = None,
    everything: bool = True,
    files: Files = ONCE,
) -> CgroupMemory:
    skipped: list[str] = []
    raw_stat = _flat(files, directory, "memory.stat", skipped)
    # The hierarchical total_* fields count this cgroup and its descendants, as v2's memory.stat does.
    stat = {key[len("total_") :]: value for key, value in raw_stat.items() if key.startswith("total_")}
    if not stat:  # a kernel without use_hierarchy totals
        stat = {k: v for k, v in raw_stat.items() if not k.startswith("hierarchical_")}
    usage = _value(files, directory, "memory.usage_in_bytes")
    limits = {}
    hard = _value(files, directory, "memory.limit_in_bytes", parse_v1_limit)
    if hard is not None:
        limits["max"] = hard
    soft = _value(files, directory, "memory.soft_limit_in_bytes", parse_v1_limit)
    if soft is not None:
        limits["soft"] = soft
    memsw = _value(files, directory, "memory.memsw.usage_in_bytes")
    memsw_limit = _value(files, directory, "memory.memsw.limit_in_bytes", parse_v1_limit) if everything else None
    oom = _flat(files, directory, "memory.oom_control", skipped)
    events: dict[str, int] = {}
    failcnt = _value(files, directory, "memory.failcnt")
    if failcnt is not None:
        events["max"] = failcnt  # times usage hit the limit: v2's "max" event
    if "oom_kill" in oom:  # Linux 4.13+
        events["oom_kill"] = oom["oom_kill"]
    procs_text = files.read(directory, "cgroup.procs") if everything else None
    return CgroupMemory(
        path=path,
        unit=unit_of(path),
        version=1,
        current=usage,
        peak=_value(files, directory, "memory.max_usage_in_bytes") if everything else None,
        limits=limits,
        swap=max(0, memsw - usage) if memsw is not None and usage is not None else None,
        swap_limit=max(0, memsw_limit - hard) if memsw_limit is not None and hard is not None else None,
        anon=stat.get("rss"),
        file=stat.get("cache"),
        shmem=stat.get("shmem"),
        kernel=_value(files, directory, "memory.kmem.usage_in_bytes") if everything else None,
        inactive_file=stat.get("inactive_file"),
        stat=stat,
        events=events,
        under_oom=bool(oom["under_oom"]) if "under_oom" in oom else None,
        pressure=_pressure(files, pressure_directory),
        procs=count_procs(procs_text) if procs_text is not None else None,
        skipped=tuple(skipped),
    )


# -- hierarchies and the walk -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hierarchy:
    root: Path
    version: int  # 2: cgroup2; 1: the v1 memory controller
    memory: bool  # cgroup2 with the memory controller (v1: always)


def detect(root: str | os.PathLike[str]) -> Hierarchy | None:
    """What a directory is, by its files: a cgroup2 root (cgroup.controllers) or a v1 memory controller
    root (memory.usage_in_bytes). None for anything else."""
    path = Path(root)
    controllers = path / "cgroup.controllers"
    if controllers.is_file():
        try:
            names = controllers.read_text().split()
        except OSError:
            names = []
        # The root's memory figures live in memory.stat; children get memory.* only if memory is enabled.
        return Hierarchy(path, 2, "memory" in names)
    if (path / "memory.usage_in_bytes").is_file():
        return Hierarchy(path, 1, True)
    return None


def mounts(mountinfo: str) -> list[Path]:
    """cgroup2 mounts and v1 mounts carrying the memory controller, from /proc/self/mountinfo text."""
    found = []
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2" or (fstype == "cgroup" and "memory" in options):
            found.append(Path(mount_point))
    return found


@dataclass(frozen=True)
class Tree:
    """What to walk: the hierarchy memory comes from, and (hybrid) the cgroup2 tree pressure comes from."""

    memory: Hierarchy
    pressure_root: Path | None = None
    files: Files = field(default=ONCE, compare=False, repr=False)
    """How its files are read: KeptFiles for the daemon's walks of a tree from the mount table."""

    @classmethod
    def from_roots(cls, roots: list[str | os.PathLike[str]]) -> Tree | None:
        """From one or two roots (--cgroupfs given once or twice): a v2 tree with memory; or a v1 memory
        tree, with a controller-less cgroup2 tree beside it for pressure. None when none holds memory."""
        found = [h for h in (detect(root) for root in roots) if h is not None]
        v2_memory = next((h for h in found if h.version == 2 and h.memory), None)
        if v2_memory is not None:
            return cls(v2_memory, v2_memory.root)
        v1 = next((h for h in found if h.version == 1), None)
        if v1 is None:
            return None
        unified = next((h for h in found if h.version == 2), None)
        return cls(v1, unified.root if unified is not None else None)

    def read(self, relative: str, everything: bool = True) -> CgroupMemory:
        directory = self.memory.root / relative if relative else self.memory.root
        path = "/" + relative
        if self.memory.version == 2:
            return read_v2(directory, path, everything, self.files)
        pressure_directory = None
        if self.pressure_root is not None:
            candidate = self.pressure_root / relative if relative else self.pressure_root
            pressure_directory = candidate if candidate.is_dir() else None
        return read_v1(directory, path, pressure_directory, everything, self.files)


@dataclass(frozen=True)
class Selection:
    """Which cgroups to read: down to max_depth, by default only units and containers; include and
    exclude are globs on the path ("/system.slice/*.service")."""

    max_depth: int = DEFAULT_MAX_DEPTH
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def wants(self, path: str, name: str) -> bool:
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in self.exclude):
            return False
        if self.include:
            return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.include)
        return shown_by_default(name)


def relative_paths(root: Path, selection: Selection) -> Iterator[str]:
    """Relative paths of the selected cgroups under root: the root ("") first, then depth-first in name
    order. Directories that vanish while listed are passed over."""
    yield ""
    yield from _below(root, "", 0, selection)


def _below(root: Path, relative: str, depth: int, selection: Selection) -> Iterator[str]:
    if depth >= selection.max_depth:
        return
    try:
        with os.scandir(f"{root}/{relative}" if relative else root) as entries:
            children = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return
    children.sort()
    for name in children:
        child = f"{relative}/{name}" if relative else name
        if selection.wants("/" + child, name):
            yield child
        yield from _below(root, child, depth + 1, selection)


def current_of(tree: Tree, relative: str) -> int | None:
    """Only the memory a cgroup holds (one small file): what ranking the cgroups of a big tree needs.
    A plain string path: this runs for every cgroup of a tree every walk."""
    name = "memory.current" if tree.memory.version == 2 else "memory.usage_in_bytes"
    text = tree.files.read(f"{tree.memory.root}/{relative}", name)
    value = text.strip() if text is not None else ""
    return int(value) if value.isascii() and value.isdigit() else None


def walk(tree: Tree, selection: Selection | None = None) -> list[CgroupMemory]:
    """Every selected cgroup's memory; one removed mid-walk is left out."""
    out = []
    for relative in relative_paths(tree.memory.root, selection or Selection()):
        try:
            out.append(tree.read(relative))
        except CgroupGone:
            continue
    return out


def discover(procfs: ProcFS, roots: list[str] | None = None, keep_open: bool = False) -> Tree | None:
    """The tree to read: from the given roots (--cgroupfs, once or twice), else from the mount table of
    the procfs root. None when no hierarchy holds memory figures (or the mount table is unreadable).
    `keep_open` (the daemon): a tree from the mount table keeps its files open between walks (KeptFiles)."""
    if roots:
        return Tree.from_roots(list(roots))
    try:
        mountinfo = procfs.read_text("self/mountinfo", SOURCE, records=True)  # 4 KB a read: many mounts
    except SourceError:
        return None
    tree = Tree.from_roots([root for root in mounts(mountinfo) if root.is_dir()])
    if tree is None or not keep_open:
        return tree
    return replace(tree, files=KeptFiles())
