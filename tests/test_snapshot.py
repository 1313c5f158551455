"""Snapshot model, derived values, JSON round trip and diffs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import CURRENT, OLD_3_10, OLD_4_19, PRESSURE

from memmond import format as fmt
from memmond.model.diff import Diff
from memmond.model.snapshot import DERIVED, Sampler, Snapshot, SnapshotFormatError
from memmond.sources.meminfo import MemInfo
from memmond.sources.procfs import ProcFS
from memmond.sources.vmstat import VmStat

KIB = 1024


def capture(tree: Path) -> Snapshot:
    return Sampler(ProcFS(tree)).capture()


def test_derived_values_follow_their_documented_formulas() -> None:
    snap = capture(CURRENT)
    m = snap.meminfo
    assert m is not None
    d = snap.derived()
    assert d["page_cache"] == m["Cached"] + m["Buffers"]
    assert d["memory_used"] == m["MemTotal"] - m["MemAvailable"]
    assert d["memory_available_ratio"] == pytest.approx(m["MemAvailable"] / m["MemTotal"])
    assert d["dirty_writeback"] == m["Dirty"] + m["Writeback"]
    assert d["reclaimable_file"] == m["Active(file)"] + m["Inactive(file)"]
    assert list(d) == list(DERIVED)  # in the catalogue's order: the metrics come out in it
    assert not snap.mem_available_estimated


def test_old_kernel_estimates_available_and_says_so() -> None:
    snap = capture(OLD_3_10)
    m = snap.meminfo
    assert m is not None
    assert snap.mem_available_estimated
    assert snap.mem_available == m["MemFree"] + m["Buffers"] + m["Cached"]
    assert snap.derived()["memory_used"] == m["MemTotal"] - snap.mem_available


def test_a_derived_value_whose_field_is_missing_is_left_out_and_the_others_stay() -> None:
    snap = Snapshot(0.0, 0.0, None, MemInfo({"MemTotal": 100, "MemAvailable": 40, "Dirty": 5}), None, None)
    assert snap.derived() == {"memory_available": 40, "memory_used": 60, "memory_available_ratio": 0.4}
    assert Snapshot(0.0, 0.0, None, None, None, None).derived() == {}


def test_memtotal_zero_gives_no_ratio_instead_of_dividing() -> None:
    snap = Snapshot(0.0, 0.0, None, MemInfo({"MemTotal": 0, "MemAvailable": 0}), None, None)
    assert "memory_available_ratio" not in snap.derived()
    assert snap.derived()["memory_used"] == 0


def test_capture_records_unavailable_psi_without_failing() -> None:
    snap = capture(OLD_4_19)
    assert snap.pressure is None
    assert snap.unavailable == {"pressure"}
    assert "pressure" in snap.errors
    assert snap.meminfo is not None and snap.vmstat is not None


def test_capture_of_the_real_proc_has_every_source() -> None:
    snap = Sampler().capture()
    assert snap.errors == {} or set(snap.errors) == {"pressure"}
    assert snap.meminfo is not None and snap.meminfo["MemTotal"] > 0
    assert snap.boot_id is not None
    assert snap.capture_seconds > 0


def test_json_round_trip_keeps_every_value(tree: Path) -> None:
    snap = capture(tree)
    back = Snapshot.from_json(snap.to_json())
    assert back.meminfo is not None and snap.meminfo is not None
    assert list(back.meminfo.items()) == list(snap.meminfo.items())
    assert back.meminfo.count_fields == snap.meminfo.count_fields
    assert (back.vmstat.as_dict() if back.vmstat else None) == (snap.vmstat.as_dict() if snap.vmstat else None)
    if snap.pressure is None:
        assert back.pressure is None
    else:
        assert back.pressure == dataclasses.replace(snap.pressure, skipped=())
    assert back.derived() == snap.derived()
    assert (back.boot_id, back.wall_time, back.monotonic) == (snap.boot_id, snap.wall_time, snap.monotonic)
    assert back.errors == snap.errors and back.unavailable == snap.unavailable


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a memmond snapshot"),
        ('{"memmond_snapshot": 99}', "not a memmond snapshot"),
        ('{"memmond_snapshot": 1, "wall_time": 1}', "malformed snapshot"),
        (
            '{"memmond_snapshot": 1, "wall_time": 1, "monotonic": 1, "meminfo_bytes": {"MemTotal": "x"},'
            ' "vmstat": null, "pressure": null}',
            "malformed snapshot",
        ),
    ],
)
def test_bad_snapshot_json_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(SnapshotFormatError, match=message):
        Snapshot.from_json(text)


def _snap(monotonic: float, boot: str | None, mem: dict[str, int], vm: dict[str, int]) -> Snapshot:
    return Snapshot(monotonic, 1_700_000_000 + monotonic, boot, MemInfo(mem), VmStat(vm), None)


BASE_MEM = {
    "MemTotal": 1000 * KIB,
    "MemFree": 500 * KIB,
    "MemAvailable": 700 * KIB,
    "Buffers": 10 * KIB,
    "Cached": 100 * KIB,
    "Dirty": 0,
    "Writeback": 0,
}


def test_diff_changes_and_counter_rates() -> None:
    before = _snap(10.0, "b1", BASE_MEM, {"pgfault": 1000, "nr_dirty": 5})
    after = _snap(
        12.0,
        "b1",
        {**BASE_MEM, "MemFree": 400 * KIB, "Cached": 200 * KIB, "Dirty": 64 * KIB},
        {"pgfault": 1600, "nr_dirty": 20},
    )
    diff = Diff(before, after)
    assert diff.seconds == 2.0
    changes = {c.name: c.change for c in diff.meminfo()}
    assert changes["MemFree"] == -100 * KIB and changes["Cached"] == 100 * KIB
    (pgfault,) = diff.vmstat_counters()
    assert pgfault.name == "pgfault" and pgfault.change == 600 and pgfault.rate == 300.0
    (nr_dirty,) = diff.vmstat_gauges()
    assert nr_dirty.change == 15 and nr_dirty.rate is None
    derived = {c.name: c.change for c in diff.derived()}
    assert derived["page_cache"] == 100 * KIB
    line = diff.summary_line()
    assert line == (
        "over 2.0 s: MemFree -100.0 KiB, MemAvailable 0 B, page cache +100.0 KiB, Dirty +64.0 KiB, Writeback 0 B"
    )


def test_diff_counter_reset_and_other_boot_give_no_rate() -> None:
    before = _snap(10.0, "b1", BASE_MEM, {"pgfault": 1000})
    reset = _snap(12.0, "b1", BASE_MEM, {"pgfault": 10})
    assert Diff(before, reset).vmstat_counters()[0].rate is None
    other_boot = _snap(5.0, "b2", BASE_MEM, {"pgfault": 5000})
    diff = Diff(before, other_boot)
    assert not diff.same_boot
    assert diff.seconds == pytest.approx(-5.0)  # wall clock across boots
    assert diff.vmstat_counters()[0].rate is None
    assert "different boots" in diff.summary_text()


def test_diff_reports_fields_that_appear_or_vanish() -> None:
    before = _snap(1.0, "b", {"MemTotal": 1, "Zswap": 0}, {})
    after = _snap(2.0, "b", {"MemTotal": 1, "SecPageTables": 0}, {})
    assert Diff(before, after).meminfo_only_in() == (["Zswap"], ["SecPageTables"])


def test_diff_of_real_fixtures_text_and_json() -> None:
    # The loaded tree was captured first, the idle one after the load ended (same boot).
    loaded, idle = capture(PRESSURE), capture(CURRENT)
    idle = dataclasses.replace(idle, monotonic=loaded.monotonic + 60)
    assert loaded.boot_id == idle.boot_id
    diff = Diff(loaded, idle)
    text = diff.summary_text()
    assert "meminfo (changed fields, largest change first)" in text
    assert "memory pressure stall (PSI)" in text
    # human units, the biggest mover first (was: every field in kB, in kernel order)
    rows = text.split("largest change first)")[1].split("\n\n")[0].splitlines()[2:]
    assert " KB" not in text and rows[0].split()[-1][-2:] in ("Mi", "Gi")
    changes = [fmt.parse_bytes(r.split()[-1].lstrip("+-") + "B") for r in rows if r.split()[-1][-1] == "i"]
    assert len(changes) > 3 and changes == sorted(changes, reverse=True)
    assert "oom_kill" in text
    doc = json.loads(json.dumps(diff.to_dict()))
    assert doc["seconds"] == pytest.approx(60)  # monotonic + 60 - monotonic is not always exactly 60
    assert doc["vmstat_counters"]["oom_kill"]["change"] > 0
    some = doc["pressure_stall_seconds"]["some"]
    assert 0 < some["rate"] <= 1


def test_a_psi_file_unchanged_since_the_last_sample_is_that_reading_and_a_change_is_seen(tmp_path: Path) -> None:
    import shutil

    tree = tmp_path / "proc"
    shutil.copytree(CURRENT, tree)
    sampler = Sampler(ProcFS(tree))
    first, second = sampler.capture(), sampler.capture()
    assert first.pressure is not None and second.pressure is first.pressure
    psi = tree / "pressure" / "memory"
    psi.write_text(psi.read_text().replace("some avg10=", "some avg10=1", 1))  # 0.00 -> 10.00, say
    changed = sampler.capture()
    assert changed.pressure is not first.pressure and changed.pressure is not None
    assert changed.pressure.some is not None and first.pressure.some is not None
    assert changed.pressure.some.avg10 == pytest.approx(first.pressure.some.avg10 + 0.1)
    psi.write_text("garbage\n")
    assert sampler.capture().pressure is None  # a bad file is an error, never the last good reading
    psi.write_text((CURRENT / "pressure" / "memory").read_text())
    assert sampler.capture().pressure == first.pressure


def test_window_extremes_read_at_any_time_are_the_extremes_of_the_samples_in_the_window() -> None:
    """Samples only note their values; whenever the extremes are read (after one sample, after a few,
    after more than the pending limit) they are those of the samples within the window, as a scan of
    every sample in it finds them."""
    import random

    from memmond.model.history import EXTREMES, Extremes, extreme_values

    rng = random.Random(7)
    extremes = Extremes(window=10.0)
    seen: list[Snapshot] = []
    for step in range(400):
        mem = {
            "MemTotal": 1000,
            "MemFree": rng.randrange(100, 900),
            "MemAvailable": rng.randrange(100, 900),
            "Buffers": rng.randrange(10),
            "Cached": rng.randrange(100, 300),
            "Dirty": rng.randrange(50),
            "Writeback": rng.randrange(5),
        }
        snap = Snapshot(step * 0.5, step * 0.5, None, MemInfo(mem), None, None)
        extremes.add(snap)
        seen.append(snap)
        assert len(extremes._pending) < Extremes.PENDING_MAX
        if rng.random() < (0.5 if step < 100 else 0.01):  # often at first, then rarely: past PENDING_MAX
            in_window = [s for s in seen if s.monotonic >= snap.monotonic - 10.0]
            expected = {}
            for at, (name, (keep_max, _)) in enumerate(EXTREMES.items()):
                values = [float(v) for s in in_window if (v := extreme_values(s)[at]) is not None]
                expected[name] = max(values) if keep_max else min(values)
            assert extremes.values() == expected, step
