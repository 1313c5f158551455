"""/proc/PID/status and /proc/PID/smaps_rollup: one process's memory.

status is readable for every process and cheap; smaps_rollup gives Pss (the fair share of shared pages)
but walks the page tables and needs ptrace-read access, so it is optional: for other users' processes an
unprivileged memmond gets EACCES and reports Pss as unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memmond.sources._lines import SkippedLine, no_fields_error
from memmond.sources.meminfo import KIB
from memmond.sources.procfs import ProcFS, SourceError

SOURCE = "process"

# The memory fields users ask for first, in the order `memmond proc` shows them.
STATUS_MEMORY_FIELDS = (
    "VmRSS",
    "VmHWM",
    "VmSize",
    "VmPeak",
    "RssAnon",
    "RssFile",
    "RssShmem",
    "VmSwap",
    "VmData",
    "VmStk",
    "VmExe",
    "VmLib",
    "VmPTE",
    "VmLck",
    "VmPin",
    "HugetlbPages",
)


@dataclass(frozen=True)
class ProcessStatus:
    """The status file: every `kB` field in bytes (`memory`), and the identity fields as text."""

    pid: int
    name: str
    state: str
    ppid: int | None
    uid: int | None
    threads: int | None
    memory: dict[str, int]
    skipped: tuple[SkippedLine, ...] = field(default=())


@dataclass(frozen=True)
class SmapsRollup:
    """Sums over all mappings (Rss, Pss, Pss_Anon, Pss_File, Pss_Shmem, Swap, SwapPss, ...) in bytes."""

    memory: dict[str, int]
    skipped: tuple[SkippedLine, ...] = field(default=())

    @property
    def pss(self) -> int | None:
        return self.memory.get("Pss")


@dataclass(frozen=True)
class ProcessMemory:
    status: ProcessStatus
    rollup: SmapsRollup | None
    rollup_error: str | None = None


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def parse_status(text: str) -> ProcessStatus:
    ident: dict[str, str] = {}
    memory: dict[str, int] = {}
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        name, tab, rest = line.partition(":")
        if not tab:
            if line.strip():
                skipped.append(SkippedLine(lineno, line, "expected 'Name:<tab>value'"))
            continue
        # The process name is the only free text and may contain anything but a newline; keep it raw.
        value = rest.strip()
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            try:
                memory[name] = int(parts[0]) * KIB
            except ValueError:
                skipped.append(SkippedLine(lineno, line, f"value {parts[0]!r} is not an integer"))
            continue
        ident[name] = value
    pid = _int_or_none(ident.get("Pid"))
    if pid is None:
        raise no_fields_error(SOURCE, skipped or [SkippedLine(0, text[:80], "no Pid line")])
    uid_fields = ident.get("Uid")
    return ProcessStatus(
        pid=pid,
        name=ident.get("Name", ""),
        state=ident.get("State", ""),
        ppid=_int_or_none(ident.get("PPid")),
        uid=_int_or_none(uid_fields),
        threads=_int_or_none(ident.get("Threads")),
        memory=memory,
        skipped=tuple(skipped),
    )


def parse_smaps_rollup(text: str) -> SmapsRollup:
    memory: dict[str, int] = {}
    skipped: list[SkippedLine] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if lineno == 1 and "[rollup]" in line:
            continue  # the address-range header
        parts = line.split()
        if len(parts) != 3 or not parts[0].endswith(":") or parts[2] != "kB":
            if line.strip():
                skipped.append(SkippedLine(lineno, line, "expected 'Name: value kB'"))
            continue
        try:
            memory[parts[0][:-1]] = int(parts[1]) * KIB
        except ValueError:
            skipped.append(SkippedLine(lineno, line, f"value {parts[1]!r} is not an integer"))
    if not memory:
        raise no_fields_error("smaps_rollup", skipped)
    return SmapsRollup(memory, tuple(skipped))


def read(procfs: ProcFS, pid: int) -> ProcessMemory:
    """Raises SourceUnavailable when the process does not exist (or exited while being read)."""
    status = parse_status(procfs.read_text(f"{pid}/status", f"process {pid}"))
    try:
        rollup = parse_smaps_rollup(procfs.read_text(f"{pid}/smaps_rollup", "smaps_rollup"))
    except SourceError as exc:
        # Kernel threads have an empty smaps_rollup; other users' processes give EACCES.
        return ProcessMemory(status, None, exc.reason)
    return ProcessMemory(status, rollup)


def parse_cgroup(text: str) -> str:
    """The cgroup path of /proc/PID/cgroup that names the process's unit on every layout: the unified
    line (`0::/system.slice/nginx.service`) when it says more than "/", else systemd's named hierarchy
    (hybrid and v1 hosts), else the v1 memory controller. "/" when none does."""
    by_hierarchy: dict[str, str] = {}
    for line in text.splitlines():
        _, sep, rest = line.partition(":")
        controllers, sep2, path = rest.partition(":")
        if sep and sep2:
            for controller in controllers.split(",") if controllers else [""]:
                by_hierarchy[controller] = path.strip()
    for hierarchy in ("", "name=systemd", "memory"):
        path = by_hierarchy.get(hierarchy, "/")
        if path not in ("", "/"):
            return path
    return "/"


def pids(procfs: ProcFS) -> list[int]:
    """Every process id under the procfs root, ascending (none when it cannot be listed)."""
    import os

    try:
        return sorted(int(entry) for entry in os.listdir(procfs.root) if entry.isdigit())
    except OSError:
        return []
