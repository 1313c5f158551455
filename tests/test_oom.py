"""OOM kills: the kernel log lines parsed, a daemon fed through a FIFO, and real OOM kills in cgroups made
for the test (root on a host with the v1 memory controller, as this development VM), one of them removed
before the cgroup walk could see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CURRENT, RunningDaemon
from hypothesis import given
from hypothesis import strategies as st

from memmond.model import cgroups
from memmond.sources import cgroup, kmsg
from memmond.sources.procfs import ProcFS

OOM_LINE = (
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
    "oom_memcg=/memmond-test-capture.scope,task_memcg=/memmond-test-capture.scope,task=python3,pid=32548,uid=0"
)
KILLED_LINE = (
    "Memory cgroup out of memory: Killed process 32548 (python3) total-vm:82120kB, anon-rss:65280kB, "
    "file-rss:6620kB, shmem-rss:0kB, UID:0 pgtables:192kB oom_score_adj:0"
)
V1_MEMORY = Path("/sys/fs/cgroup/memory")
MiB = 1 << 20


def test_the_two_kernel_lines_of_a_kill() -> None:
    record = kmsg.parse_record(f"3,1234,4639713322,-;{OOM_LINE}\n SUBSYSTEM=x\n".encode())
    assert record is not None and record.sequence == 1234 and record.message == OOM_LINE
    kill = kmsg.parse_oom_kill(record.message, record.boot_usec)
    assert kill is not None
    assert (kill.pid, kill.command, kill.cgroup, kill.oom_cgroup) == (
        32548,
        "python3",
        "/memmond-test-capture.scope",
        "/memmond-test-capture.scope",
    )
    assert kill.constraint == "CONSTRAINT_MEMCG" and kill.uid == 0 and kill.rss_bytes is None
    sized = kmsg.add_sizes(kill, KILLED_LINE)
    assert sized is not None and sized.anon_rss_bytes == 65280 * 1024 and sized.rss_bytes == (65280 + 6620) * 1024
    assert kmsg.add_sizes(kill, KILLED_LINE.replace("32548", "1")) is None  # another process's line
    assert kmsg.parse_oom_kill("oom-kill:constraint=CONSTRAINT_NONE,task=x") is None  # no pid: not a kill we trust
    assert kmsg.parse_record(b"garbage") is None and kmsg.parse_record(b"a,b,c,d;x") is None
    global_kill = kmsg.parse_oom_kill(
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
        "task_memcg=/system.slice/nginx.service,task=nginx,pid=811,uid=33"
    )
    assert global_kill is not None and global_kill.oom_cgroup is None and global_kill.uid == 33


def test_kills_from_the_kernel_log_are_counted_served_and_logged(tmp_path: Path) -> None:
    fifo = tmp_path / "kmsg"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # held open: the daemon's reads see no end of file
    try:
        with RunningDaemon("--procfs", str(CURRENT), "--kmsg", str(fifo)) as daemon:
            os.write(writer, f"3,1,100,-;{OOM_LINE}\n".encode())
            time.sleep(0.1)  # the size line in a later read still joins its kill
            os.write(writer, f"3,2,101,-;{KILLED_LINE}\n".encode())
            gone = OOM_LINE.replace("memmond-test-capture.scope", "gone.service").replace("32548", "777")
            os.write(writer, f"3,3,200,-;{gone}\n".encode())
            scope = 'memmond_oom_kills_total{cgroup="/memmond-test-capture.scope",unit="memmond-test-capture.scope"}'
            daemon.wait_for(lambda: daemon.metrics().get(scope) == 1, 5, "the kill counted")
            gone_kills = 'memmond_oom_kills_total{cgroup="/gone.service",unit="gone.service"}'
            # no size line follows the last kill: it is counted SIZE_LINE_WAIT later, without sizes
            daemon.wait_for(lambda: daemon.metrics().get(gone_kills) == 1, 5, "the kill without a size line")
            metrics = daemon.metrics()
            assert metrics["memmond_oom_victims_readable"] == 1
            status, _, body = daemon.get("/api/v1/oom")
            kills = json.loads(body)["kills"]
            assert status == 200 and [k["pid"] for k in kills] == [32548, 777]
            assert kills[0]["command"] == "python3" and kills[0]["rss_bytes"] == (65280 + 6620) * 1024
            assert kills[1]["rss_bytes"] is None and kills[1]["unit"] == "gone.service"
            daemon.wait_for(lambda: "OOM killer killed python3 (pid 32548)" in daemon.stderr(), 5, "the event")
            assert "oom_pid=32548" in daemon.stderr() and "oom_cgroup=/memmond-test-capture.scope" in daemon.stderr()
    finally:
        os.close(writer)


def test_an_unreadable_kernel_log_is_said_once_and_costs_nothing_else(tmp_path: Path) -> None:
    missing = ("--kmsg", str(tmp_path / "missing"), "--journal", str(tmp_path / "no-journal"))
    with RunningDaemon("--procfs", str(CURRENT), *missing) as daemon:
        assert daemon.metrics()["memmond_oom_victims_readable"] == 0
        assert json.loads(daemon.get("/api/v1/oom")[2]) == {"victims_readable": False, "kills": []}
    assert daemon.stderr().count("OOM victims are not available") == 1
    assert f"cannot open {tmp_path / 'missing'}" in daemon.stderr()
    assert f"no journal directory {tmp_path / 'no-journal'}" in daemon.stderr()


JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")


def append_to_journal(directory: Path, *kernel_lines: str) -> None:
    """Kernel messages into a real journal file, as journald stores what it reads from /dev/kmsg
    (_TRANSPORT=kernel), written by systemd-journal-remote from the journal export format."""
    assert JOURNAL_REMOTE.exists(), "systemd-journal-remote is not installed (packaging/dev-setup.sh installs it)"
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
    entries = []
    for number, line in enumerate(kernel_lines):
        now = time.time_ns() // 1000 + number
        entries.append(
            f"__REALTIME_TIMESTAMP={now}\n__MONOTONIC_TIMESTAMP={time.monotonic_ns() // 1000}\n_BOOT_ID={boot}\n"
            f"_TRANSPORT=kernel\nSYSLOG_IDENTIFIER=kernel\n_SOURCE_MONOTONIC_TIMESTAMP=1000\nMESSAGE={line}\n\n"
        )
    subprocess.run(
        [str(JOURNAL_REMOTE), f"--output={directory / 'remote.journal'}", "-"],
        input="".join(entries).encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )


def test_oom_victims_come_from_the_journal_when_the_kernel_log_is_not_readable(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    old = OOM_LINE.replace("memmond-test-capture.scope", "old.service").replace("32548", "11")
    append_to_journal(journal, old, "eth0: link up")  # before the start: counted by whoever ran then
    not_readable = ("--kmsg", str(tmp_path / "missing"), "--journal", str(journal))
    with RunningDaemon("--procfs", str(CURRENT), *not_readable) as daemon:
        assert f"OOM victims from the kernel's messages in {journal}" in daemon.stderr()
        assert daemon.metrics()["memmond_oom_victims_readable"] == 1
        append_to_journal(journal, "usb 1-1: new device", OOM_LINE, KILLED_LINE)
        scope = 'memmond_oom_kills_total{cgroup="/memmond-test-capture.scope",unit="memmond-test-capture.scope"}'
        daemon.wait_for(lambda: daemon.metrics().get(scope) == 1, 10, "the kill from the journal")
        kills = json.loads(daemon.get("/api/v1/oom")[2])["kills"]
        assert [(k["pid"], k["command"], k["rss_bytes"]) for k in kills] == [(32548, "python3", (65280 + 6620) * 1024)]
        assert not any("old.service" in key for key in daemon.metrics())
        daemon.wait_for(lambda: "OOM killer killed python3 (pid 32548)" in daemon.stderr(), 5, "the event")


# -- real OOM kills -----------------------------------------------------------------------------------------


def _can_cause_oom() -> str | None:
    if os.geteuid() != 0:
        return "creating memory cgroups needs root"
    if not (V1_MEMORY / "memory.limit_in_bytes").exists():
        return "no v1 memory controller at /sys/fs/cgroup/memory"
    if not os.access("/dev/kmsg", os.R_OK):
        return "the kernel log is not readable here"
    return None


class OwnCgroup:
    """A cgroup of our own at the root of a hierarchy (the v1 memory one unless told), with a memory
    limit (v1) when given one; the caller removes it, always."""

    def __init__(self, limit: int | None, root: Path = V1_MEMORY, name: str | None = None) -> None:
        self.name = name or f"memmond-test-{uuid.uuid4().hex[:8]}.scope"
        self.path = root / self.name
        self.path.mkdir()
        if limit is not None:
            (self.path / "memory.limit_in_bytes").write_text(str(limit))
            memsw = self.path / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(str(limit))

    def start_allocator(self, megabytes: int, hold_seconds: float = 0) -> subprocess.Popen[bytes]:
        """A child that moves itself in, then allocates and touches `megabytes` (and holds them)."""
        code = (
            f"import time\nbufs = []\nfor _ in range({megabytes}):\n    bufs.append(bytearray(1 << 20))\n"
            f"time.sleep({hold_seconds})\n"
        )
        procs = str(self.path / "cgroup.procs")
        return subprocess.Popen(
            [sys.executable, "-c", code],
            preexec_fn=lambda: Path(procs).write_text(str(os.getpid())),
        )

    def run_allocator(self, megabytes: int) -> int:
        """Allocate and exit; the exit status (-9 when the OOM killer got it)."""
        return self.start_allocator(megabytes).wait(60)

    def remove(self) -> None:
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


@pytest.fixture
def test_cgroups() -> Iterator[list[OwnCgroup]]:
    reason = _can_cause_oom()
    if reason:
        pytest.skip(reason)
    made: list[OwnCgroup] = []
    try:
        yield made
    finally:
        for cg in made:
            cg.remove()


def test_real_oom_kills_are_counted_and_attributed_even_in_a_removed_cgroup(
    tmp_path: Path, test_cgroups: list[OwnCgroup]
) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(
        "interval: 1s\ncgroups:\n  interval: 3s\nbuiltin_rules:\n  overrides:\n    cgroup_near_limit: {for: 0s}\n"
        "events: {fast_duration: 2s, psi_triggers: []}\n"
    )
    with RunningDaemon("--config", str(config)) as daemon:
        first = OwnCgroup(128 * MiB)
        test_cgroups.append(first)
        path = f"/{first.name}"
        labels = f'cgroup="{path}",unit="{first.name}"'
        daemon.wait_for(
            lambda: f"memmond_cgroup_memory_bytes{{{labels}}}" in daemon.metrics(), 10, "the new cgroup walked"
        )
        assert (
            daemon.metrics()[f'memmond_cgroup_memory_limit_bytes{{cgroup="{path}",kind="max",unit="{first.name}"}}']
            == 128 * MiB
        )
        # Near the limit first: 112 MiB held, plus the interpreter (~8 MiB), is over 90 % of 128 MiB
        holder = first.start_allocator(112, hold_seconds=60)

        def rule(name: str, severity: str) -> str:
            return (
                f'memmond_cgroup_rule_active{{cgroup="{path}",rule="{name}",severity="{severity}",unit="{first.name}"}}'
            )

        try:
            daemon.wait_for(
                lambda: daemon.metrics().get(rule("cgroup_near_limit", "warning")) == 1, 15, "near the limit"
            )
        finally:
            holder.kill()
            holder.wait(10)
        assert f"rule cgroup_near_limit firing for {path}: {first.name} ({path}) uses" in daemon.stderr()
        assert first.run_allocator(256) == -9  # SIGKILL from the OOM killer
        daemon.wait_for(lambda: daemon.metrics().get(f"memmond_oom_kills_total{{{labels}}}") == 1, 10, "kill counted")
        event = f'memmond_cgroup_memory_events_total{{cgroup="{path}",event="oom_kill",unit="{first.name}"}}'
        daemon.wait_for(lambda: daemon.metrics().get(event) == 1, 10, "memory.oom_control's count")
        (victim,) = [k for k in json.loads(daemon.get("/api/v1/oom")[2])["kills"] if k["cgroup"] == path]
        assert victim["command"].startswith("python") and victim["constraint"] == "CONSTRAINT_MEMCG"
        assert victim["rss_bytes"] is not None and victim["rss_bytes"] > 32 * MiB
        assert f"oom_cgroup={path}" in daemon.stderr()
        daemon.wait_for(lambda: daemon.metrics().get(rule("cgroup_oom_kill", "critical")) == 1, 10, "the OOM kill rule")
        assert f"rule cgroup_oom_kill firing for {path}: The OOM killer killed a process in {first.name}" in (
            daemon.stderr()
        )

        # the kill opened a memory event: its record has the victim and the seconds before the kill
        def oom_event() -> dict | None:
            listed = json.loads(daemon.get("/api/v1/events")[2])["events"]
            return next((e for e in listed if e["trigger"] == "oom_kill"), None)

        daemon.wait_for(lambda: oom_event() is not None, 15, "the OOM kill's event record")
        summary = oom_event()
        assert summary is not None and summary["oom_kills"] >= 1
        whole = json.loads(daemon.get(f"/api/v1/events/{summary['id']}")[2])
        assert any(k["pid"] == victim["pid"] for k in whole["oom_kill_list"])
        assert min(row[0] for row in whole["points"]) < whole["started_monotonic"] - 5

        # A second cgroup lives and dies between two cgroup walks (3 s apart): the walk never sees it,
        # the kernel log still attributes its kill.
        second = OwnCgroup(64 * MiB)
        test_cgroups.append(second)
        assert second.run_allocator(256) == -9
        second.remove()
        brief = f'memmond_oom_kills_total{{cgroup="/{second.name}",unit="{second.name}"}}'
        daemon.wait_for(lambda: daemon.metrics().get(brief) == 1, 10, "the brief cgroup's kill")
        assert daemon.metrics().get(f"memmond_oom_kills_total{{{labels}}}") == 1  # not counted twice


@given(st.binary(max_size=300))
def test_kernel_log_records_of_any_bytes_parse_or_are_refused(data: bytes) -> None:
    record = kmsg.parse_record(data)
    if record is not None:
        kill = kmsg.parse_oom_kill(record.message, record.boot_usec)
        assert kill is None or isinstance(kill.pid, int)  # a result, never an exception


@given(st.text(max_size=300))
def test_oom_lines_of_any_text_parse_or_are_refused(text: str) -> None:
    kill = kmsg.parse_oom_kill("oom-kill:" + text)
    if kill is not None:
        assert isinstance(kill.pid, int) and kill.cgroup
        assert kmsg.add_sizes(kill, text) is None or kill.pid == kmsg.add_sizes(kill, text).pid  # type: ignore[union-attr]


def test_a_walk_keeping_files_open_reads_a_cgroup_removed_and_made_again_anew(test_cgroups: list[OwnCgroup]) -> None:
    """The daemon keeps each cgroup file open between walks. On the kernel's cgroup filesystem a removed
    cgroup's open files fail (ENODEV), also once a cgroup of the same name exists again: the walk must
    then read the new cgroup, not fail it or lose it."""
    tree = cgroup.discover(ProcFS("/proc"), keep_open=True)
    assert tree is not None and isinstance(tree.files, cgroup.KeptFiles)
    name = f"memmond-test-{uuid.uuid4().hex[:8]}.scope"

    def walked() -> dict[str, cgroup.CgroupMemory]:
        return {c.path: c for c in cgroups.sample(tree, cgroup.Selection(), 1000).cgroups}

    first = OwnCgroup(64 * MiB, name=name)
    test_cgroups.append(first)
    assert walked()[f"/{name}"].limit == 64 * MiB
    assert any(f"/{name}/" in path for path in tree.files.fds)  # read through kept descriptors next time
    assert walked()[f"/{name}"].limit == 64 * MiB
    first.remove()
    again = OwnCgroup(96 * MiB, name=name)
    test_cgroups.append(again)
    assert walked()[f"/{name}"].limit == 96 * MiB
    again.remove()
    assert f"/{name}" not in walked()
    assert not any(f"/{name}/" in path for path in tree.files.fds)
    tree.files.close()
