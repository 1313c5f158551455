"""Parsers against real /proc captures and the documented shapes of older kernels."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from conftest import CURRENT, OLD_3_10, OLD_4_19, PRESSURE, fixture_pid

from memmond.sources import meminfo, pressure, process, vmstat
from memmond.sources._lines import ParseError
from memmond.sources.procfs import MAX_SOURCE_BYTES, ProcFS, SourceError, SourceUnavailable


def _nonblank_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


# -- meminfo ---------------------------------------------------------------------------------------------


def test_meminfo_keeps_every_field_the_kernel_printed_in_order(tree: Path) -> None:
    lines = _nonblank_lines(tree / "meminfo")
    info = meminfo.read(ProcFS(tree))
    assert list(info) == [line.split(":")[0] for line in lines]
    assert info.skipped == ()


def test_meminfo_converts_kb_to_bytes_and_keeps_hugepage_counts() -> None:
    info = meminfo.parse("MemTotal:       24684092 kB\nHugePages_Total:      12\nHugepagesize:       2048 kB\n")
    assert info["MemTotal"] == 24684092 * 1024
    assert info["HugePages_Total"] == 12
    assert info.is_count("HugePages_Total")
    assert not info.is_count("Hugepagesize")
    assert info["Hugepagesize"] == 2048 * 1024


def test_meminfo_values_match_the_captured_file_byte_for_byte() -> None:
    for line in _nonblank_lines(CURRENT / "meminfo"):
        name, rest = line.split(":")
        number, *unit = rest.split()
        expected = int(number) * (1024 if unit == ["kB"] else 1)
        assert meminfo.read(ProcFS(CURRENT))[name] == expected, name


def test_meminfo_fast_and_slow_paths_agree(tree: Path) -> None:
    text = (tree / "meminfo").read_text()
    fast = meminfo.parse(text)
    slow = meminfo.parse(text.replace("\n", "\n\n", 1))  # a blank line forces the line-by-line path
    assert list(fast.items()) == list(slow.items())
    assert fast.count_fields == slow.count_fields


def test_meminfo_of_old_kernel_has_no_invented_memavailable() -> None:
    info = meminfo.read(ProcFS(OLD_3_10))
    assert "MemAvailable" not in info
    assert "Zswap" not in info and "SecPageTables" not in info
    assert info["MemTotal"] == 16344972 * 1024


def test_meminfo_of_current_kernel_has_recent_fields() -> None:
    info = meminfo.read(ProcFS(CURRENT))
    for name in ("MemAvailable", "Zswap", "SecPageTables", "KReclaimable", "Active(file)"):
        assert name in info


def test_meminfo_skips_and_reports_malformed_lines_but_keeps_the_rest() -> None:
    text = (
        "MemTotal:       1000 kB\n"
        "garbage without colon\n"
        "MemFree:        abc kB\n"
        "Cached:         10 MB\n"
        "Buffers:        1 2 3\n"
        "MemTotal:       5 kB\n"
        "Dirty:          4 kB\n"
    )
    info = meminfo.parse(text)
    assert dict(info) == {"MemTotal": 1000 * 1024, "Dirty": 4 * 1024}
    assert [s.lineno for s in info.skipped] == [2, 3, 4, 5, 6]
    assert "unknown unit 'MB'" in info.skipped[2].reason
    assert "duplicate" in info.skipped[4].reason


@pytest.mark.parametrize("text", ["", "\n\n", "not meminfo at all\n", "MemTotal: lots\n", "\x00\x01\x02"])
def test_meminfo_with_nothing_usable_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as err:
        meminfo.parse(text)
    assert err.value.source == "meminfo"


def test_meminfo_truncated_mid_line_keeps_complete_lines() -> None:
    text = (CURRENT / "meminfo").read_text()
    cut = text[: text.index("Dirty:") + 8]  # "Dirty:  " with no value
    info = meminfo.parse(cut)
    assert "Zswapped" in info and "Dirty" not in info and "Writeback" not in info
    assert len(info.skipped) == 1


@pytest.mark.parametrize(
    ("kernel_name", "snake"),
    [
        ("MemTotal", "mem_total"),
        ("MemAvailable", "mem_available"),
        ("Active(file)", "active_file"),
        ("Inactive(anon)", "inactive_anon"),
        ("SReclaimable", "sreclaimable"),
        ("SUnreclaim", "sunreclaim"),
        ("KReclaimable", "kreclaimable"),
        ("GPUActive", "gpu_active"),
        ("HugePages_Total", "huge_pages_total"),
        ("Hugepagesize", "hugepagesize"),
        ("Committed_AS", "committed_as"),
        ("NFS_Unstable", "nfs_unstable"),
        ("DirectMap2M", "direct_map_2m"),
        ("DirectMap4k", "direct_map_4k"),
        ("ShmemPmdMapped", "shmem_pmd_mapped"),
        ("SecPageTables", "sec_page_tables"),
        ("AnonHugePages", "anon_huge_pages"),
    ],
)
def test_snake_name(kernel_name: str, snake: str) -> None:
    assert meminfo.snake_name(kernel_name) == snake


def test_snake_names_of_every_captured_field_are_unique_and_metric_safe(tree: Path) -> None:
    names = [meminfo.snake_name(n) for n in meminfo.read(ProcFS(tree))]
    assert len(names) == len(set(names))
    assert all(n and n.replace("_", "").isalnum() and n == n.lower() for n in names)


# -- vmstat ----------------------------------------------------------------------------------------------


def test_vmstat_keeps_every_counter(tree: Path) -> None:
    lines = _nonblank_lines(tree / "vmstat")
    stat = vmstat.read(ProcFS(tree))
    assert len(stat) == len(lines)
    for line in lines:
        name, value = line.split()
        assert stat[name] == int(value)


def test_vmstat_fast_and_slow_paths_agree(tree: Path) -> None:
    text = (tree / "vmstat").read_text()
    fast = vmstat.parse(text)
    slow = vmstat.parse(text + "\n")  # a trailing blank line forces the line-by-line path
    assert fast.as_dict() == slow.as_dict()


def test_vmstat_skips_malformed_lines() -> None:
    stat = vmstat.parse("pgfault 10\nbroken\npgmajfault x\npswpin 1 2\nnr_dirty 5\npgfault 11\n")
    assert stat.as_dict() == {"pgfault": 10, "nr_dirty": 5}
    assert [s.lineno for s in stat.skipped] == [2, 3, 4, 6]


@pytest.mark.parametrize("layout_known", [False, True])
@pytest.mark.parametrize(
    ("source", "line", "value", "kept"),
    [
        ("vmstat", "pgfault {}", "x", None),
        ("vmstat", "pgfault {}", "1.5", None),
        ("vmstat", "pgfault {}", "-3", -3),
        ("vmstat", "pgfault {}", str(2**64), 2**64),
        ("vmstat", "pgfault {}", "+7", 7),
        ("meminfo", "Dirty:  {} kB", "x", None),
        ("meminfo", "Dirty:  {} kB", str(2**60), 2**70),
        ("meminfo", "Dirty:  {} kB", "-3", -3 * 1024),
    ],
)
def test_odd_values_parse_alike_whether_or_not_the_fields_were_seen_before(
    layout_known: bool, source: str, line: str, value: str, kept: int | None
) -> None:
    """Every sample after the first takes the fast path of a known field list: a value it cannot hold
    (not an integer, past 64 bits) must give what the line parser gives, not an error or a wrong number."""
    parser = {"vmstat": vmstat.parse, "meminfo": meminfo.parse}[source]
    text = (CURRENT / source).read_text()
    if layout_known:
        parser(text)
    label = line.split()[0]
    odd = re.sub(rf"^{re.escape(label)} +\d+( kB)?$", line.format(value), text, count=1, flags=re.M)
    assert odd != text
    parsed, whole, name = parser(odd), parser(text), label.rstrip(":")
    assert parsed.get(name) == kept
    assert [skipped.text for skipped in parsed.skipped] == ([] if kept is not None else [line.format(value)])
    assert [item for item in parsed.items() if item[0] != name] == [item for item in whole.items() if item[0] != name]


def test_vmstat_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        vmstat.parse("complete nonsense here\n")


@pytest.mark.parametrize(
    ("name", "counter"),
    [
        ("pgfault", True),
        ("pgmajfault", True),
        ("workingset_refault_file", True),
        ("oom_kill", True),
        ("nr_dirtied", True),
        ("nr_written", True),
        ("nr_free_pages", False),
        ("nr_dirty", False),
        ("nr_dirty_threshold", False),
        ("workingset_nodes", False),
    ],
)
def test_vmstat_counter_or_gauge(name: str, counter: bool) -> None:
    assert vmstat.is_counter(name) is counter


def test_vmstat_old_kernel_names_are_kept_as_printed() -> None:
    old = vmstat.read(ProcFS(OLD_4_19))
    assert "workingset_refault" in old and "workingset_refault_file" not in old
    assert "pgsteal_kswapd_normal" in vmstat.read(ProcFS(OLD_3_10))


# -- pressure --------------------------------------------------------------------------------------------


def test_pressure_under_load_reads_ratios_and_microseconds() -> None:
    psi = pressure.read(ProcFS(PRESSURE))
    raw = (PRESSURE / "pressure" / "memory").read_text().split()
    some_avg10 = float(raw[1].split("=")[1])
    assert psi.some is not None and psi.full is not None
    assert psi.some.avg10 == pytest.approx(some_avg10 / 100)
    assert psi.some.avg10 > 0.05
    assert psi.some.total_us == int(raw[4].split("=")[1])
    assert psi.full.total_us <= psi.some.total_us  # full stalls are a subset of some stalls
    assert psi.some.total_seconds == psi.some.total_us / 1e6


@pytest.mark.parametrize("tree_without_psi", [OLD_3_10, OLD_4_19], ids=["3.10", "4.19"])
def test_pressure_absent_is_unavailable_not_an_error(tree_without_psi: Path) -> None:
    with pytest.raises(SourceUnavailable) as err:
        pressure.read(ProcFS(tree_without_psi))
    assert err.value.source == "pressure"


def test_pressure_without_full_line_is_accepted() -> None:
    psi = pressure.parse("some avg10=1.50 avg60=0.50 avg300=0.10 total=12345\n")
    assert psi.full is None and psi.some is not None
    assert psi.some.avg10 == pytest.approx(0.015)


def test_pressure_malformed_lines_are_skipped() -> None:
    psi = pressure.parse(
        "some avg10=1.00 avg60=x avg300=0.00 total=1\n"
        "full avg10=2.00 avg60=1.00 avg300=0.50 total=99\n"
        "half avg10=1 avg60=1 avg300=1 total=1\n"
        "some avg10=400.00 avg60=1.00 avg300=0.50 total=99\n"
    )
    assert psi.some is None and psi.full is not None and psi.full.total_us == 99
    assert len(psi.skipped) == 3


# -- process ---------------------------------------------------------------------------------------------


def test_process_status_and_rollup_from_a_capture() -> None:
    pid = fixture_pid(CURRENT)
    proc = process.read(ProcFS(CURRENT), pid)
    assert proc.status.pid == pid
    assert proc.status.name
    assert proc.status.memory["VmRSS"] > 0
    assert proc.status.memory["VmHWM"] >= proc.status.memory["VmRSS"]
    assert proc.status.memory["VmRSS"] == sum(proc.status.memory[k] for k in ("RssAnon", "RssFile", "RssShmem"))
    assert proc.rollup is not None and proc.rollup.pss is not None
    assert 0 < proc.rollup.pss <= proc.rollup.memory["Rss"]


def test_process_of_this_test_on_the_real_proc() -> None:
    proc = process.read(ProcFS("/proc"), os.getpid())
    assert proc.status.pid == os.getpid()
    assert proc.status.memory["VmRSS"] > 1024 * 1024
    assert proc.rollup is not None  # our own smaps_rollup is always readable


def test_process_missing_is_unavailable() -> None:
    with pytest.raises(SourceUnavailable):
        process.read(ProcFS(CURRENT), 999999999)


def test_process_status_with_odd_name_and_bad_lines() -> None:
    status = process.parse_status("Name:\tweird: name\nPid:\t7\nVmRSS:\t  x kB\nnoise\nVmHWM:\t  8 kB\n")
    assert status.name == "weird: name"
    assert status.memory == {"VmHWM": 8192}
    assert len(status.skipped) == 2


def test_process_rollup_missing_leaves_status_usable(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "status").write_text("Name:\tx\nPid:\t42\nVmRSS:\t100 kB\n")
    proc = process.read(ProcFS(tmp_path), 42)
    assert proc.rollup is None and "does not exist" in (proc.rollup_error or "")
    assert proc.status.memory["VmRSS"] == 102400


# -- ProcFS ----------------------------------------------------------------------------------------------


def test_procfs_unreadable_file_is_an_error_not_unavailable(tmp_path: Path) -> None:
    (tmp_path / "meminfo").mkdir()  # reading a directory fails with EISDIR even as root
    with pytest.raises(SourceError) as err:
        meminfo.read(ProcFS(tmp_path))
    assert not isinstance(err.value, SourceUnavailable)
    assert "meminfo" in str(err.value)


def test_procfs_size_limit_is_exact(tmp_path: Path) -> None:
    (tmp_path / "at-limit").write_bytes(b"x" * MAX_SOURCE_BYTES)
    assert len(ProcFS(tmp_path).read_bytes("at-limit")) == MAX_SOURCE_BYTES
    (tmp_path / "over").write_bytes(b"x" * (MAX_SOURCE_BYTES + 1))  # over by one byte, in a short last chunk
    with pytest.raises(SourceError, match="larger than"):
        ProcFS(tmp_path).read_bytes("over")


def test_procfs_refuses_huge_files(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text("MemTotal: 1 kB\n" * (MAX_SOURCE_BYTES // 10))
    with pytest.raises(SourceError) as err:
        meminfo.read(ProcFS(tmp_path))
    assert "larger than" in err.value.reason


def test_the_live_procfs_keeps_sample_files_open_and_every_read_is_fresh() -> None:
    live = ProcFS("/proc")
    first = live.read_sample_text("uptime")
    fd = live._kept.fds["uptime"]
    time.sleep(0.05)
    second = live.read_sample_text("uptime")
    assert live._kept.fds["uptime"] == fd  # the same descriptor, read again from offset 0
    assert first != second and float(second.split()[0]) > float(first.split()[0])
    assert meminfo.read(live)["MemTotal"] > 0 and set(live._kept.fds) >= {"uptime", "meminfo"}
    live.close()
    assert live._kept.fds == {}
    with pytest.raises(SourceUnavailable):  # a missing file still says so through the ordinary path
        live.read_sample_text("no-such-file")
    assert "no-such-file" not in live._kept.fds


def test_a_captured_tree_is_read_afresh_every_time(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text((CURRENT / "meminfo").read_text())
    captured = ProcFS(tmp_path)
    total = meminfo.read(captured)["MemTotal"]
    (tmp_path / "meminfo").unlink()
    (tmp_path / "meminfo").write_text((CURRENT / "meminfo").read_text().replace(str(total // 1024), "1", 1))
    assert meminfo.read(captured)["MemTotal"] == 1024 and captured._kept.fds == {}


def test_pick_gives_each_table_its_own_fields_in_the_order_asked_and_none_for_a_missing_one() -> None:
    from memmond.sources._table import FieldTable

    wanted = ("c", "a")
    one = FieldTable({"a": 1, "b": 2, "c": 3})
    other = FieldTable({"c": 30, "x": 0, "a": 10})  # the same names at other positions
    short = FieldTable({"a": 100, "b": 200})
    for _ in range(2):  # the second time from the layouts' kept pickers
        assert tuple(one.pick(wanted)) == (3, 1)
        assert tuple(other.pick(wanted)) == (30, 10)
        assert tuple(short.pick(wanted)) == (None, 100)
        assert tuple(one.pick(("b",))) == (2,)
    assert tuple(one.pick(tuple(["c", "a"]))) == (3, 1)  # an equal tuple, another object
    assert one.pick(()) == () and short.pick(("z", "y")) == (None, None)


def test_a_table_cut_to_some_fields_keeps_their_values_and_units_and_drops_the_absent() -> None:
    info = meminfo.read(ProcFS(CURRENT))
    names = ("HugePages_Total", "MemTotal", "NoSuchField")
    cut = info.only(names)
    assert type(cut) is type(info) and list(cut.items()) == [(n, info[n]) for n in names[:2]]
    assert cut.is_count("HugePages_Total") and not cut.is_count("MemTotal")
    assert info.only(names).names is cut.names  # one layout for every sample cut alike
