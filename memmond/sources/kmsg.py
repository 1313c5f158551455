"""The kernel log (/dev/kmsg): who the OOM killer killed, in which cgroup, and how big it was.

Per-cgroup counters (memory.events oom_kill) say that a kill happened; only the kernel log says whom, and
only it survives a cgroup that was created and removed between two samples. The kernel writes two lines
per kill (mm/oom_kill.c):

    oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x.scope,
        task_memcg=/x.scope,task=python3,pid=32548,uid=0
    Memory cgroup out of memory: Killed process 32548 (python3) total-vm:82120kB, anon-rss:65280kB,
        file-rss:6620kB, shmem-rss:0kB, UID:0 pgtables:192kB oom_score_adj:0

(the second says "Out of memory:" for a global OOM). /dev/kmsg gives one record per read(2):
"<priority>,<sequence>,<microseconds since boot>,<flags>;<message>", then continuation lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True)
class Record:
    sequence: int
    boot_usec: int  # time since boot, microseconds
    message: str


def parse_record(data: bytes) -> Record | None:
    """One /dev/kmsg record; None for anything not in that shape."""
    text = data.decode("utf-8", "replace")
    header, sep, rest = text.partition(";")
    fields = header.split(",")
    if not sep or len(fields) < 4:
        return None
    try:
        sequence, boot_usec = int(fields[1]), int(fields[2])
    except ValueError:
        return None
    return Record(sequence, boot_usec, rest.split("\n", 1)[0])


@dataclass(frozen=True)
class OomKill:
    """One OOM kill: the victim, its cgroup, what was constrained, and (from the second line) its size."""

    pid: int
    command: str
    cgroup: str  # task_memcg: the victim's own cgroup
    oom_cgroup: str | None  # oom_memcg: the cgroup whose limit was hit (memcg OOM); None for a global OOM
    constraint: str  # CONSTRAINT_MEMCG, CONSTRAINT_NONE (global), CONSTRAINT_CPUSET, ...
    uid: int | None
    boot_usec: int
    anon_rss_bytes: int | None = None
    file_rss_bytes: int | None = None
    shmem_rss_bytes: int | None = None

    @property
    def rss_bytes(self) -> int | None:
        parts = (self.anon_rss_bytes, self.file_rss_bytes, self.shmem_rss_bytes)
        return None if any(part is None for part in parts) else sum(parts)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "command": self.command,
            "cgroup": self.cgroup,
            "oom_cgroup": self.oom_cgroup,
            "constraint": self.constraint,
            "uid": self.uid,
            "boot_seconds": self.boot_usec / 1e6,
            "rss_bytes": self.rss_bytes,
            "anon_rss_bytes": self.anon_rss_bytes,
            "file_rss_bytes": self.file_rss_bytes,
            "shmem_rss_bytes": self.shmem_rss_bytes,
        }


_KEY_VALUE = re.compile(r"(\w+)=([^,]*)")
_KILLED = re.compile(
    r"Killed process (\d+) \((.*)\) total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB, shmem-rss:(\d+)kB"
)


def parse_oom_kill(message: str, boot_usec: int = 0) -> OomKill | None:
    """The 'oom-kill:' line (Linux 4.19+ format) into an OomKill; None for any other line."""
    if not message.startswith("oom-kill:"):
        return None
    fields = dict(_KEY_VALUE.findall(message[len("oom-kill:") :]))
    try:
        pid = int(fields["pid"])
        command = fields["task"]
        cgroup = fields["task_memcg"]
    except (KeyError, ValueError):
        return None
    uid = fields.get("uid", "")
    return OomKill(
        pid=pid,
        command=command,
        cgroup=cgroup or "/",
        oom_cgroup=fields.get("oom_memcg") or None,
        constraint=fields.get("constraint", ""),
        uid=int(uid) if uid.isdigit() else None,
        boot_usec=boot_usec,
    )


def add_sizes(kill: OomKill, message: str) -> OomKill | None:
    """The 'Killed process PID (comm) ... anon-rss:...' line that follows `kill`'s line, folded into it;
    None when the line is about another process."""
    match = _KILLED.search(message)
    if match is None or int(match.group(1)) != kill.pid:
        return None
    anon, file, shmem = (int(match.group(i)) * KIB for i in (4, 5, 6))
    return OomKill(
        kill.pid,
        kill.command,
        kill.cgroup,
        kill.oom_cgroup,
        kill.constraint,
        kill.uid,
        kill.boot_usec,
        anon_rss_bytes=anon,
        file_rss_bytes=file,
        shmem_rss_bytes=shmem,
    )
