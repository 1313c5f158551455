"""Processes by name, and watched files and processes as metrics on a running daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunningDaemon, evict, run_memmond

from memmond import config
from memmond.model.watch import ProcessWatch, find_processes, sample_file, sample_process
from memmond.sources.procfs import ProcFS

MIB = 1024 * 1024
LONG_NAME = "memmond-test-sleeper"  # longer than the kernel's 15-character comm


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[list[int]]:
    """Two processes named LONG_NAME (a copy of sleep), ended after the test."""
    binary = tmp_path / LONG_NAME
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    procs = [subprocess.Popen([str(binary), "60"]) for _ in range(2)]
    time.sleep(0.1)
    try:
        yield sorted(p.pid for p in procs)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_find_processes_by_long_name_and_by_comm(sleepers: list[int]) -> None:
    assert find_processes(ProcFS(), LONG_NAME) == sleepers
    assert find_processes(ProcFS(), LONG_NAME[:15]) == sleepers  # comm itself
    sample = sample_process(ProcFS(), ProcessWatch(LONG_NAME))
    assert sample.pids == tuple(sleepers) and sample.error is None
    assert sample.rss_bytes == sum(
        int(line.split()[1]) * 1024
        for pid in sleepers
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    assert sample.pss_bytes is not None and 0 < sample.pss_bytes <= sample.rss_bytes


def test_process_by_pidfile_and_missing(tmp_path: Path) -> None:
    pidfile = tmp_path / "self.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    sample = sample_process(ProcFS(), ProcessWatch("me", str(pidfile)))
    assert sample.pids == (os.getpid(),)
    assert sample_process(ProcFS(), ProcessWatch("nothing-like-this")).error == "no such process"
    assert "No such file" in (sample_process(ProcFS(), ProcessWatch("x", str(tmp_path / "none.pid"))).error or "")


def test_proc_command_by_name_lists_every_match(sleepers: list[int]) -> None:
    result = run_memmond("proc", LONG_NAME, "--json")
    assert result.returncode == 0, result.stderr
    assert sorted(doc["pid"] for doc in json.loads(result.stdout)) == sleepers
    text = run_memmond("proc", LONG_NAME)
    assert text.stdout.count("process ") == 2 and "VmRSS" in text.stdout
    missing = run_memmond("proc", "nothing-like-this")
    assert missing.returncode == 1 and "no process named 'nothing-like-this'" in missing.stderr


def test_watched_directory_is_summed(tmp_path: Path) -> None:
    for index in range(3):
        (tmp_path / f"f{index}").write_bytes(os.urandom(MIB))
    os.sync()
    sample = sample_file(str(tmp_path))
    assert sample.files == 3 and sample.size_bytes == 3 * MIB
    assert sample.resident_bytes >= 3 * MIB * 0.9
    assert sample_file(str(tmp_path / "none")).error is not None


def test_watched_files_and_processes_become_metrics(tmp_path: Path, sleepers: list[int]) -> None:
    data = Path("/var/tmp") / f"memmond-watch-{os.getpid()}.bin"
    data.write_bytes(os.urandom(4 * MIB))
    try:
        cfg = tmp_path / "memmond.yaml"
        cfg.write_text(
            f"interval: 200ms\nwatch:\n  interval: 1s\n  files: [{data}, {tmp_path / 'missing'}]\n"
            f"  processes:\n    - name: {LONG_NAME}\n    - name: ghost\n"
        )
        config.load(cfg)  # valid
        with RunningDaemon("--config", str(cfg)) as daemon:
            metrics = daemon.metrics()
            path = f'path="{data}"'
            assert metrics[f"memmond_file_watch_up{{{path}}}"] == 1
            assert metrics[f"memmond_file_size_bytes{{{path}}}"] == 4 * MIB
            assert metrics[f"memmond_file_cache_resident_bytes{{{path}}}"] >= 3 * MIB
            assert metrics[f'memmond_file_watch_up{{path="{tmp_path / "missing"}"}}'] == 0
            assert metrics[f'memmond_process_count{{name="{LONG_NAME}"}}'] == 2
            assert metrics[f'memmond_process_rss_bytes{{name="{LONG_NAME}"}}'] > 0
            assert metrics['memmond_process_watch_up{name="ghost"}'] == 0
            assert metrics["memmond_watch_interval_seconds"] == 1

            evict(data)
            daemon.wait_for(
                lambda: daemon.metrics()[f"memmond_file_cache_resident_bytes{{{path}}}"] < MIB,
                5,
                "residency dropping after DONTNEED",
            )
    finally:
        data.unlink()


def test_too_many_watched_paths_is_a_config_error(tmp_path: Path) -> None:
    paths = ", ".join(f"/f{index}" for index in range(40))
    with pytest.raises(config.ConfigError, match="at most 32 watched paths, got 40"):
        config.parse(f"watch:\n  files: [{paths}]\n", "m.yaml")
