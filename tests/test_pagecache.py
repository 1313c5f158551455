"""Page cache residency on real files whose residency the test controls: written (resident, dirty),
fsynced (clean), evicted with posix_fadvise(DONTNEED), half read back. Both kernel interfaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import golden
import pytest
from conftest import evict, run_memmond

from memmond.sources import pagecache

MIB = 1024 * 1024
METHODS = [
    "mincore",
    pytest.param(
        "cachestat",
        marks=pytest.mark.skipif(
            not pagecache.cachestat_supported(), reason="this kernel has no cachestat() (Linux 6.5+)"
        ),
    ),
]


def write_file(path: Path, size: int, sync: bool) -> None:
    with open(path, "wb") as handle:
        handle.write(os.urandom(size))
        handle.flush()
        if sync:
            os.fsync(handle.fileno())


@pytest.mark.parametrize("method", METHODS)
def test_residency_follows_write_evict_and_read(tmp_path: Path, method: str) -> None:
    path = tmp_path / "data.bin"
    write_file(path, 16 * MIB, sync=True)
    written = pagecache.residency(path, method)
    assert written.method == method
    assert written.pages == 16 * MIB // pagecache.PAGE_SIZE
    assert written.resident_ratio > 0.9

    evict(path)
    assert pagecache.residency(path, method).resident_ratio < 0.05

    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no readahead: exactly the first half comes back
        os.pread(fd, 8 * MIB, 0)
    finally:
        os.close(fd)
    half = pagecache.residency(path, method)
    assert 0.49 < half.resident_ratio < 0.55


@pytest.mark.skipif(not pagecache.cachestat_supported(), reason="this kernel has no cachestat() (Linux 6.5+)")
def test_cachestat_sees_dirty_pages_and_their_writeback(tmp_path: Path) -> None:
    path = tmp_path / "dirty.bin"
    write_file(path, 8 * MIB, sync=False)
    dirty = pagecache.residency(path, "cachestat")
    assert dirty.dirty_pages is not None and dirty.dirty_pages > 0.9 * dirty.pages
    os.sync()
    clean = pagecache.residency(path, "cachestat")
    assert clean.dirty_pages == 0 and clean.writeback_pages == 0
    assert clean.resident_ratio > 0.9


def test_auto_falls_back_to_mincore_when_the_kernel_refuses_cachestat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    write_file(path, MIB, sync=True)
    monkeypatch.setattr(pagecache, "_cachestat_works", False)  # as after an ENOSYS on a pre-6.5 kernel
    result = pagecache.residency(path)
    assert result.method == "mincore" and result.dirty_pages is None
    assert result.resident_ratio > 0.9
    with pytest.raises(pagecache.PageCacheError, match="no cachestat"):
        pagecache.residency(path, "cachestat")


def test_empty_file_and_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.touch()
    assert pagecache.residency(empty, "mincore").pages == 0
    with pytest.raises(pagecache.PageCacheError, match="No such file"):
        pagecache.residency(tmp_path / "missing")
    with pytest.raises(pagecache.PageCacheError, match="not a regular file"):
        pagecache.residency(tmp_path)


def test_cache_command_walks_directories_with_a_bound(tmp_path: Path) -> None:
    for index in range(5):
        write_file(tmp_path / f"f{index}.bin", 64 * 1024, sync=True)
    (tmp_path / "sub").mkdir()
    write_file(tmp_path / "sub" / "g.bin", 64 * 1024, sync=True)
    (tmp_path / "link").symlink_to(tmp_path / "f0.bin")

    result = run_memmond("cache", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert sorted(Path(f["path"]).name for f in doc["files"]) == [
        "f0.bin",
        "f1.bin",
        "f2.bin",
        "f3.bin",
        "f4.bin",
        "g.bin",
    ]  # the symlink is not followed
    assert all(f["resident_ratio"] > 0.9 for f in doc["files"])
    assert doc["truncated_at"] is None

    bounded = run_memmond("cache", str(tmp_path), "--max-files", "3")
    assert bounded.returncode == 0
    assert "total of 3 files" in bounded.stdout and "stopped after 3 files (--max-files)" in bounded.stdout

    missing = run_memmond("cache", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "not measured:" in missing.stdout


def _cached_tree(root: Path) -> None:
    """Three files with known residency: all cached, the first half cached, none cached."""
    write_file(root / "all.bin", 1024 * 1024, sync=True)
    for name, size in (("half.bin", 512 * 1024), ("none.bin", 256 * 1024)):
        write_file(root / name, size, sync=True)
        fd = os.open(root / name, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            if name == "half.bin":
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no readahead past what is read
                os.pread(fd, size // 2, 0)
        finally:
            os.close(fd)


def test_cache_shows_most_cached_first_with_a_total_of_every_file(tmp_path: Path) -> None:
    """Seen: `memmond cache /usr/lib` printed 10,004 unsorted 264-column lines."""
    _cached_tree(tmp_path)
    golden.check("cache", "cache", ".", cwd=tmp_path)
    limited = run_memmond("cache", ".", "--limit", "1", cwd=tmp_path, env={"COLUMNS": "80"}).stdout.splitlines()
    assert limited[0] == "Page cache of 3 files, the 1 with most cached first"
    assert limited[3].startswith("./all.bin") and limited[5].startswith("total of 3 files")
    summary = run_memmond("cache", ".", "--summary", cwd=tmp_path, env={"COLUMNS": "80"}).stdout
    assert "./" not in summary and "total of 3 files" in summary
    doc = json.loads(run_memmond("cache", ".", "--json", cwd=tmp_path).stdout)
    assert [Path(f["path"]).name for f in doc["files"]] == ["all.bin", "half.bin", "none.bin"]
    assert doc["total"]["files"] == 3 and doc["total"]["resident_bytes"] == (1024 + 256) * 1024


def test_ctrl_c_ends_a_long_walk_with_what_was_measured(tmp_path: Path) -> None:
    for index in range(3000):
        (tmp_path / f"f{index:04}").write_bytes(b"x")
    code = (
        "import os, signal, sys, threading\n"
        "from memmond.sources import pagecache\n"
        "real = pagecache.residency\n"
        "def slow(path, method):\n"
        "    if path.endswith('f0100'): os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(path, method)\n"
        "pagecache.residency = slow\n"
        "from memmond.cli.main import main\n"
        f"sys.exit(main(['cache', {str(tmp_path)!r}, '--summary']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 130, result.stderr
    assert "interrupted (Ctrl-C) after" in result.stdout and "total of 10" in result.stdout
