"""Fault injection through the procfs root of a running daemon: sources that vanish, are cut mid-line,
unreadable, garbage or huge. The loop must stay alive, report source_up 0 and rising errors, and recover
fully when the file is back. And the daemon writes nothing while it runs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CURRENT, RunningDaemon, free_port

from memmond.sources.procfs import MAX_SOURCE_BYTES

UP = 'memmond_source_up{source="meminfo"}'
ERRORS = 'memmond_source_errors_total{source="meminfo"}'


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "proc"
    shutil.copytree(CURRENT, tree)
    return tree


def test_meminfo_faults_one_after_another_and_full_recovery(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    good = (tree / "meminfo").read_text()
    config = tmp_path / "m.yaml"
    config.write_text("interval: 100ms\n")
    with RunningDaemon("--procfs", str(tree), "--config", str(config)) as daemon:

        def errors() -> float:
            return daemon.metrics()[ERRORS]

        faults = {
            "vanished": lambda: (tree / "meminfo").unlink(),
            "garbage": lambda: (tree / "meminfo").write_bytes(os.urandom(2048).replace(b":", b";")),
            "huge": lambda: (tree / "meminfo").write_text("MemTotal: 1 kB\n" * (MAX_SOURCE_BYTES // 15 + 10)),
            "a directory": lambda: ((tree / "meminfo").unlink(), (tree / "meminfo").mkdir()),
            "empty": lambda: (tree / "meminfo").write_text(""),
        }
        for name, inject in faults.items():
            before = errors()
            inject()
            daemon.wait_for(lambda: daemon.metrics()[UP] == 0, 5, f"meminfo down when {name}")
            daemon.wait_for(lambda b=before: errors() >= b + 3, 5, f"errors rising when {name}")
            assert daemon.metrics()['memmond_source_up{source="vmstat"}'] == 1  # the others go on
            path = tree / "meminfo"
            if path.is_dir():
                path.rmdir()
            elif path.exists():
                path.unlink()
            path.write_text(good)
            daemon.wait_for(lambda: daemon.metrics()[UP] == 1, 5, f"recovery after {name}")
            assert daemon.metrics()["memmond_meminfo_mem_total_bytes"] > 0

        # Cut mid-line: the complete lines still count, the broken one is skipped and counted.
        skipped_before = daemon.metrics()['memmond_source_lines_skipped_total{source="meminfo"}']
        (tree / "meminfo").write_text(good[: good.index("Dirty:") + 9])
        daemon.wait_for(
            lambda: daemon.metrics()['memmond_source_lines_skipped_total{source="meminfo"}'] > skipped_before,
            5,
            "the cut line counted",
        )
        assert daemon.metrics()[UP] == 1 and "memmond_meminfo_writeback_bytes" not in daemon.metrics()
        (tree / "meminfo").write_text(good)
        daemon.wait_for(lambda: "memmond_meminfo_writeback_bytes" in daemon.metrics(), 5, "all fields back")
        assert daemon.proc is not None and daemon.proc.poll() is None


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to run the daemon as nobody"
)
def test_unreadable_source_as_an_unprivileged_daemon() -> None:
    import tempfile

    # pytest's own temporary directories are private to root: nobody could not read anything there.
    base = Path(tempfile.mkdtemp(prefix="memmond-faults-", dir="/var/tmp"))
    base.chmod(0o755)
    tree = _tree(base)
    for path in [tree, *tree.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    proc = subprocess.Popen(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "memmond",
            "run",
            "--listen",
            f"127.0.0.1:{port}",
            "--procfs",
            str(tree),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon = RunningDaemon.attach(proc, port)
    try:
        daemon.wait_for(lambda: daemon.get("/-/ready")[0] == 200, 10, "ready as nobody")
        assert daemon.metrics()[UP] == 1
        (tree / "meminfo").chmod(0)
        daemon.wait_for(lambda: daemon.metrics()[UP] == 0, 5, "meminfo unreadable")
        daemon.wait_for(lambda: daemon.metrics()[ERRORS] >= 2, 5, "errors rising")
        (tree / "meminfo").chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        daemon.wait_for(lambda: daemon.metrics()[UP] == 1, 5, "readable again")
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(base)
    assert "Permission denied" in (proc.stderr.read() if proc.stderr else "")


def test_the_daemon_writes_nothing(tmp_path: Path) -> None:
    """No file open for writing, nothing created in its working directory, after startup and scrapes."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    with RunningDaemon(cwd=workdir) as daemon:
        for _ in range(3):
            daemon.get("/metrics")
            daemon.get("/api/v1/trend?samples=2")
        assert daemon.proc is not None
        pid = daemon.proc.pid
        writable = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                flags = int(Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("flags:")[1].split()[0], 8)
            except (FileNotFoundError, IndexError):
                continue
            if target.startswith("/") and flags & (os.O_WRONLY | os.O_RDWR) and not target.startswith("/dev/"):
                writable.append(target)
        # stderr is the test's log file; a PSI trigger is armed by writing to a pressure file opened O_RDWR,
        # the kernel's interface for it (nothing is stored)
        trigger = ("/proc/pressure/memory",)
        assert [t for t in writable if "memmond-stderr-" not in t and not t.startswith(trigger)] == []
        assert writable.count("/proc/pressure/memory") <= 1  # the one default trigger
    assert list(workdir.iterdir()) == []
