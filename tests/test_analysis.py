"""io-impact on real files on this machine's disk (not tmpfs): the page cache story, measured."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_memmond

from memmond import format as fmt
from memmond.model import io_impact as analysis

MIB = 1024 * 1024


@pytest.fixture
def disk_dir() -> Path:
    """A directory on a real block-device filesystem: /tmp may be tmpfs, where nothing is ever written back."""
    import tempfile

    base = Path("/var/tmp")
    with tempfile.TemporaryDirectory(prefix="memmond-io-", dir=base) as name:
        yield Path(name)


def test_writing_64_mib_raises_cached_and_leaves_the_file_resident(disk_dir: Path) -> None:
    impact = analysis.write_file_and_analyze(disk_dir / "w.dat", size=64 * MIB)
    assert impact.delta("Cached") >= 48 * MIB  # "at least most of it"
    assert impact.caused_cache_growth
    assert impact.file_after is not None and impact.file_after.resident_ratio > 0.9
    assert impact.file_after_sync is not None and impact.file_after_sync.resident_ratio > 0.9
    assert impact.written_back  # after sync, Dirty is back near where it started
    assert impact.file_after_sync.dirty_pages in (0, None)
    assert "start on the inactive list" in " ".join(impact.explanation())


def test_fsync_keeps_dirty_near_its_start(disk_dir: Path) -> None:
    impact = analysis.write_file_and_analyze(disk_dir / "f.dat", size=64 * MIB, fsync=True)
    assert abs(impact.delta("Dirty")) < 16 * MIB
    assert not impact.dirtied_pages
    assert impact.caused_cache_growth  # written pages stay cached, clean


def test_write_of_given_bytes_is_exact(disk_dir: Path) -> None:
    data = os.urandom(3 * MIB + 123)
    impact = analysis.write_file_and_analyze(disk_dir / "exact.dat", data, block_size=MIB)
    assert (disk_dir / "exact.dat").read_bytes() == data
    assert impact.size_bytes == len(data)


def test_refuses_to_overwrite_and_removes_unless_kept(disk_dir: Path) -> None:
    target = disk_dir / "existing.dat"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        analysis.write_file_and_analyze(target, size=MIB)
    assert target.read_bytes() == b"precious"
    analysis.write_file_and_analyze(disk_dir / "gone.dat", size=MIB, keep=False)
    assert not (disk_dir / "gone.dat").exists()


def test_reading_a_dropped_file_brings_it_into_the_cache(disk_dir: Path) -> None:
    target = disk_dir / "r.dat"
    analysis.write_file_and_analyze(target, size=32 * MIB, fsync=True)
    impact = analysis.read_file_and_analyze(target, drop_first=True)
    assert impact.file_before is not None and impact.file_before.resident_ratio < 0.05
    assert impact.file_after is not None and impact.file_after.resident_ratio > 0.9
    assert impact.delta("Cached") >= 24 * MIB
    assert impact.size_bytes == 32 * MIB


def test_io_impact_command_json_and_text(disk_dir: Path) -> None:
    target = disk_dir / "cli.dat"
    result = run_memmond("io-impact", "write", str(target), "--size", "64MiB", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["deltas_bytes"]["Cached"] >= 48 * MIB
    assert doc["verdicts"]["caused_cache_growth"] is True
    assert doc["file_after"]["resident_ratio"] > 0.9
    assert not target.exists()  # removed without --keep

    result = run_memmond("io-impact", "write", str(target), "--size", "8MiB", "--fsync", "--keep")
    assert result.returncode == 0 and target.exists()
    assert "Verdicts" in result.stdout and "What happened" in result.stdout
    again = run_memmond("io-impact", "write", str(target), "--size", "8MiB")
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr

    read = run_memmond("io-impact", "read", str(target), "--drop-first")
    assert read.returncode == 0 and f"Read {fmt.iec(8 * MIB)} from {target}" in read.stdout
    assert run_memmond("io-impact", "write", str(target), "--size", "lots").returncode == 2


def _impact(operation: str, before: dict[str, int], after: dict[str, int]) -> analysis.IOImpact:
    from memmond.model.snapshot import Snapshot
    from memmond.sources.meminfo import MemInfo

    def snapshot(t: float, fields: dict[str, int]) -> Snapshot:
        base = dict.fromkeys(analysis.FIELDS, 1024 * MIB) | {"MemTotal": 16384 * MIB}
        return Snapshot(t, t, "boot", MemInfo(base | fields), None, None)

    start, end = snapshot(0, before), snapshot(1, after)
    return analysis.IOImpact(operation, "/var/tmp/f", 100 * MIB, 1.0, False, start, end, end, None, None, None)


def test_explanations_say_rose_or_fell_with_the_size_never_a_negative_fall() -> None:
    """Seen: "MemAvailable fell by -196.0 KiB" when it rose, after a 100 MiB write."""
    impact = _impact(
        "write",
        {"MemAvailable": 8000 * MIB, "MemFree": 4000 * MIB, "Dirty": 0, "Cached": 2000 * MIB},
        {"MemAvailable": 8000 * MIB + 196 * 1024, "MemFree": 3900 * MIB, "Dirty": 100 * MIB, "Cached": 2100 * MIB},
    )
    text = " ".join(impact.explanation())
    assert "by -" not in text and "fell by 0" not in text
    assert "MemAvailable rose by 196.0 KiB while MemFree fell by 100.0 MiB" in text
    assert "Dirty rose by 100.0 MiB and Cached rose by 100.0 MiB" in text


def test_less_than_memfree_is_said_only_when_available_fell_clearly_less() -> None:
    """Seen after `io-impact read --drop-first`: "fell by 3.6 MiB, less than MemFree (3.6 MiB)"."""
    same = _impact(
        "read", {"MemAvailable": 8000 * MIB, "MemFree": 4000 * MIB}, {"MemAvailable": 7996 * MIB, "MemFree": 3996 * MIB}
    )
    assert "less than" not in " ".join(same.explanation())
    assert "MemAvailable fell by 4.0 MiB, MemFree fell by 4.0 MiB." in same.explanation()
    less = _impact(
        "read", {"MemAvailable": 8000 * MIB, "MemFree": 4000 * MIB}, {"MemAvailable": 7990 * MIB, "MemFree": 3900 * MIB}
    )
    assert any(
        line.startswith("MemAvailable fell by 10.0 MiB, less than MemFree (100.0 MiB)") for line in less.explanation()
    )


def test_refusing_to_overwrite_names_the_command_line_flag(disk_dir: Path) -> None:
    target = disk_dir / "exists"
    target.write_text("keep me")
    result = run_memmond("io-impact", "write", str(target), "--size", "1MiB")
    assert result.returncode == 1
    assert "--force" in result.stderr and "force=True" not in result.stderr
    assert target.read_text() == "keep me"
