"""sync and drop-caches as a user runs them: real effects as root, a clear refusal otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CURRENT, run_memmond

from memmond.sources import pagecache

MIB = 1024 * 1024


def test_sync_reports_dirty_before_and_after() -> None:
    result = run_memmond("sync")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sync took ") and "Dirty " in result.stdout and " -> " in result.stdout


def _as_nobody(*args: str) -> subprocess.CompletedProcess:
    if os.geteuid() != 0:
        return run_memmond(*args)  # already unprivileged
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to run memmond unprivileged from a root test")
    return subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "memmond", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_drop_caches_refuses_without_root_and_says_why() -> None:
    result = _as_nobody("drop-caches", "3")
    assert result.returncode == 1
    assert result.stderr.startswith("memmond: error: drop-caches needs root")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping caches needs root")
def test_drop_caches_writes_the_level_after_a_sync(tmp_path: Path) -> None:
    tree = tmp_path / "proc"
    shutil.copytree(CURRENT, tree)
    (tree / "sys" / "vm" / "drop_caches").write_text("")
    result = run_memmond("--procfs", str(tree), "drop-caches", "2")
    assert result.returncode == 0, result.stderr
    assert (tree / "sys" / "vm" / "drop_caches").read_text() == "2\n"
    assert "dropped reclaimable slab (dentries and inodes) (after sync)" in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping caches needs root")
def test_drop_caches_really_drops_a_cached_file() -> None:
    import tempfile

    with tempfile.NamedTemporaryFile(dir="/var/tmp", prefix="memmond-drop-") as handle:
        handle.write(os.urandom(64 * MIB))
        handle.flush()
        os.fsync(handle.fileno())
        assert pagecache.residency(handle.name).resident_ratio > 0.9
        result = run_memmond("drop-caches", "1")
        if result.returncode == 1 and "cannot write" in result.stderr:
            pytest.skip(f"this machine does not allow it: {result.stderr.strip()}")
        assert result.returncode == 0, result.stderr
        assert pagecache.residency(handle.name).resident_ratio < 0.05
        assert "freed " in result.stdout.splitlines()[0]
