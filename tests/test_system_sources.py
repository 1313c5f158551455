"""The memory subsystems beyond /proc/meminfo: NUMA nodes, huge page pools, THP, KSM, zram, zswap and the
ZFS ARC, from this machine's sysfs (one node, empty pools, KSM and zswap off), a written two-node host
(tests/fixtures/sysfs-two-nodes: pools of 2 MiB and 1 GiB, KSM running, zswap on, a zram device with the
numbers a real one gave here) and a ZFS host's arcstats."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from pathlib import Path

import pytest
from conftest import CURRENT, FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from memmond.model import system
from memmond.sources import arcstats, hugepages, numa, zram
from memmond.sources.procfs import ProcFS, SourceError

TWO_NODES = FIXTURES / "sysfs-two-nodes"
HERE = FIXTURES / "sysfs-6.18-x86_64"
ZFS = FIXTURES / "zfs-arc-host"
GIB = 1024**3


def test_node_meminfo_drops_the_node_prefix_and_keeps_kernel_units() -> None:
    nodes = numa.read(ProcFS(TWO_NODES))
    assert [n.node for n in nodes] == [0, 1]
    first, second = nodes
    assert first.meminfo["MemTotal"] == 32 * GIB and first.counts["HugePages_Total"] == 256
    assert "MemUsed" in first.meminfo and "FilePages" in first.meminfo
    assert first.numastat["numa_miss"] == 1234567 and second.numastat["numa_foreign"] == 1234567
    assert first.available_bytes < 1 * GIB < 29 * GIB < second.available_bytes


def test_a_line_of_another_node_is_skipped_not_taken() -> None:
    sizes, _, skipped = numa.parse_node_meminfo("Node 0 MemTotal: 100 kB\nNode 1 MemFree: 5 kB\n", 0)
    assert sizes == {"MemTotal": 102400} and "node 1" in str(skipped[0])


def test_this_machine_has_node0_and_its_files_parse() -> None:
    if not Path("/sys/devices/system/node/node0/meminfo").exists():
        pytest.skip("no NUMA sysfs on this kernel")
    (node,) = numa.read(ProcFS("/sys"))[:1]
    assert node.node == 0 and node.meminfo["MemTotal"] > 0 and node.numastat["numa_hit"] > 0


def test_a_node_that_vanishes_is_left_out(tmp_path: Path) -> None:
    tree = tmp_path / "sys"
    shutil.copytree(TWO_NODES, tree)
    (tree / "devices/system/node/node1/meminfo").unlink()  # hot-removed while read
    assert [n.node for n in numa.read(ProcFS(tree))] == [0]


def test_huge_page_pools_by_size_machine_wide_and_per_node() -> None:
    pools = hugepages.read(ProcFS(TWO_NODES))
    machine = {p.size_bytes: p for p in pools if p.node is None}
    assert machine[2 * 1024**2].total == 512 and machine[2 * 1024**2].reserved == 12
    assert machine[GIB].total == 2 and machine[GIB].used == 1
    per_node = {(p.node, p.size_bytes): p for p in pools if p.node is not None}
    assert per_node[(0, 2 * 1024**2)].free == 0 and per_node[(1, 2 * 1024**2)].free == 256
    assert hugepages.size_of("hugepages-32768kB") == 32 * 1024**2 and hugepages.size_of("hugepages") is None


def test_thp_modes_are_the_bracketed_words() -> None:
    assert hugepages.parse_mode("always [madvise] never\n") == "madvise"
    assert hugepages.read_thp(ProcFS(TWO_NODES))["enabled"] == "always"
    assert hugepages.read_thp(ProcFS(HERE)) == {"enabled": "madvise", "defrag": "madvise", "shmem_enabled": "never"}


def test_zram_columns_as_the_kernel_documents_them() -> None:
    (device,) = zram.read(ProcFS(TWO_NODES))
    assert device.name == "zram0" and device.algorithm == "lzo-rle" and device.disksize_bytes == 64 * 1024**2
    assert device.mm["orig_data_size"] == 13631488 and device.mm["same_pages"] == 1024
    assert device.mm["huge_pages"] == 256 and round(device.compression_ratio, 1) == 11.2
    shorter = zram.parse_columns("4096 1024 2048 0 2048 1 0", zram.MM_STAT, "old mm_stat")  # a 4.x kernel
    assert "huge_pages" not in shorter and shorter["pages_compacted"] == 0


def test_an_uninitialised_or_reset_zram_device_holds_nothing() -> None:
    with pytest.raises(SourceError):  # SourceUnavailable: zram0 here has disksize 0
        zram.read(ProcFS(HERE))


@pytest.mark.skipif(not Path("/sys/block/zram0").exists(), reason="no zram0 on this machine")
def test_a_real_zram_device_reports_what_was_written_to_it() -> None:
    import os

    if Path("/sys/block/zram0/initstate").read_text().strip() != "0":
        pytest.skip("zram0 is in use")
    Path("/sys/block/zram0/disksize").write_text("16M")
    try:
        fd = os.open("/dev/zram0", os.O_WRONLY)
        try:
            for _ in range(512):  # 2 MiB of one repeated phrase: compresses well
                os.write(fd, (b"memmond test " * 400)[:4096])
            os.write(fd, bytes(4096 * 64))  # 64 same-filled pages
            os.fsync(fd)
        finally:
            os.close(fd)
        (device,) = zram.read(ProcFS("/sys"))
        assert device.mm["orig_data_size"] >= 2 * 1024**2 and device.mm["same_pages"] >= 64
        assert device.compression_ratio > 4
    finally:
        Path("/sys/block/zram0/reset").write_text("1")


def test_arcstats_rows_and_the_shrinkable_part() -> None:
    arc = arcstats.read(ProcFS(ZFS))
    assert arc["size"] == 12 * GIB and arc["c_min"] == 2 * GIB and arc["memory_available_bytes"] < 0
    assert arcstats.shrinkable_bytes(arc) == 10 * GIB
    with pytest.raises(SourceError, match="name type data"):
        arcstats.parse("13 1 0x01 2 0 0 0\nrow kind value\nsize 4 10\n")


def test_one_sample_of_everything_names_what_this_kernel_lacks() -> None:
    here = system.sample(ProcFS(CURRENT), ProcFS(HERE))
    assert {"zram", "arcstats", "zswap_stats"} <= here.unavailable and not here.errors
    assert len(here.nodes) == 1 and here.thp["enabled"] == "madvise" and here.ksm["run"] == 0
    zfs = system.sample(ProcFS(ZFS), ProcFS(TWO_NODES))
    assert zfs.arc_shrinkable_bytes == 10 * GIB and len(zfs.nodes) == 2 and zfs.zswap["enabled"] == "Y"


def test_a_broken_file_costs_its_source_not_the_sample(tmp_path: Path) -> None:
    tree = tmp_path / "sys"
    shutil.copytree(TWO_NODES, tree)
    (tree / "block/zram0/mm_stat").write_text("garbage here\n")
    (tree / "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").write_text("lots\n")
    broken = system.sample(ProcFS(CURRENT), ProcFS(tree))
    assert set(broken.errors) == {"zram", "hugepages"} and len(broken.nodes) == 2 and broken.ksm


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_the_parsers_never_crash_on_any_text(text: str) -> None:
    for parse in (
        lambda t: numa.parse_node_meminfo(t, 0),
        numa.parse_pairs,
        arcstats.parse,
        lambda t: zram.parse_columns(t, zram.MM_STAT, "mm_stat"),
    ):
        with contextlib.suppress(SourceError):
            parse(text)
    hugepages.parse_mode(text)
    zram.parse_algorithm(text)
    hugepages.size_of(text)


def test_the_daemon_serves_every_subsystem_of_a_rich_host_and_promtool_agrees(tmp_path: Path) -> None:
    import subprocess

    from conftest import RunningDaemon

    sysfs = tmp_path / "sys"
    shutil.copytree(TWO_NODES, sysfs)
    config = tmp_path / "memmond.yaml"
    config.write_text("interval: 200ms\nsystem: {interval: 1s}\n")
    with RunningDaemon("--config", str(config), "--procfs", str(ZFS), "--sysfs", str(sysfs)) as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 2, 5, "two samples")
        metrics = daemon.metrics()
        assert metrics['memmond_numa_node_available_bytes{node="1"}'] > 29 * GIB
        assert metrics['memmond_numa_pages_total{kind="miss",node="0"}'] == 1234567
        assert metrics['memmond_hugepages_pages{size="1073741824",state="total"}'] == 2
        assert metrics['memmond_numa_node_hugepages_pages{node="0",size="2097152",state="free"}'] == 0
        assert metrics['memmond_thp_mode_info{mode="always",setting="enabled"}'] == 1
        assert metrics["memmond_ksm_saved_bytes"] == 1520435200 and metrics["memmond_ksm_running"] == 1
        assert metrics['memmond_zram_original_bytes{device="zram0"}'] == 13631488
        assert metrics['memmond_zswap_info{compressor="zstd",enabled="Y",zpool=""}'] == 1
        assert metrics['memmond_zswap_rejects_total{reason="compress_poor"}'] == 4096
        assert metrics["memmond_zswap_written_back_pages_total"] == 20480
        assert metrics["memmond_zfs_arc_shrinkable_bytes"] == 10 * GIB
        assert metrics["memmond_memory_available_bytes"] == 13 * GIB  # MemAvailable 3 GiB + 10 GiB of ARC
        assert metrics["memmond_meminfo_mem_available_bytes"] == 3 * GIB  # the kernel's, beside it
        assert not any(name.startswith('memmond_source_up{source="zram"') for name in metrics)
        _, _, body = daemon.get("/metrics")
        lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
        assert lint.returncode == 0 and lint.stdout == b"" and lint.stderr == b"", lint

        (sysfs / "block/zram0/mm_stat").write_text("reset meanwhile\n")  # a device being reset mid-read
        daemon.wait_for(lambda: daemon.metrics().get('memmond_source_up{source="zram"}') == 0, 5, "zram down")
        metrics = daemon.metrics()
        assert metrics['memmond_source_errors_total{source="zram"}'] >= 1
        assert 'memmond_zram_original_bytes{device="zram0"}' not in metrics and metrics["memmond_ksm_running"] == 1
        _, _, body = daemon.get("/metrics")
        lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
        assert lint.returncode == 0, lint


def test_the_arc_aware_available_sets_the_level_and_the_low_memory_rule_says_both() -> None:
    """A 64 GiB ZFS host with 3 GiB MemAvailable and a 12 GiB ARC (c_min 2 GiB): critical by the kernel's
    figure (4.7 %), medium by the ARC-aware one (20.3 %)."""
    from memmond.config import Config
    from memmond.model.snapshot import Sampler
    from memmond.rules import ruleset
    from memmond.rules.engine import Engine
    from memmond.rules.levels import PressureTracker, level_of

    snap = Sampler(ProcFS(ZFS)).capture()
    assert snap.arc_shrinkable == 10 * GIB and snap.mem_available == 3 * GIB
    assert snap.derived()["memory_available"] == 13 * GIB
    level, reason = level_of(snap)
    assert level == "medium" and "ZFS: MemAvailable 3.0 GiB + 10.0 GiB of ARC above its minimum" in reason
    plain = dataclasses.replace(snap, arc_shrinkable=None)
    assert level_of(plain)[0] == "critical"
    rules = ruleset.load(Config(), ProcFS(ZFS))
    engine = Engine(rules.rules, rules.vocabulary)
    assert not [t for t in engine.evaluate([snap], 1.0) if t.rule.name in ("low_memory", "critical_low_memory")]
    tracker = PressureTracker()
    tracker.update(plain)
    assert tracker.level == "critical"
    fired = {t.rule.name: t for t in Engine(rules.rules, rules.vocabulary).evaluate([plain], 1.0)}
    assert "the kernel's MemAvailable 3.0 GiB" in fired["low_memory"].summary


def test_a_numa_node_nearly_full_while_another_is_free_fires_after_five_minutes() -> None:
    from memmond.config import Config
    from memmond.model.snapshot import Sampler
    from memmond.rules import ruleset
    from memmond.rules.engine import Engine

    sampler = Sampler(ProcFS(CURRENT), ProcFS(TWO_NODES))
    rules = ruleset.load(Config(), ProcFS(CURRENT), ProcFS(TWO_NODES))
    assert "numa_node_exhausted" not in rules.skipped
    first = sampler.capture()
    assert first.numa is not None and len(first.numa) == 2
    engine = Engine(rules.rules, rules.vocabulary)
    history = [dataclasses.replace(first, monotonic=float(t)) for t in range(0, 301, 60)]
    fired = []
    for end in range(1, len(history) + 1):
        fired += [t for t in engine.evaluate(history[:end], 60.0) if t.rule.name == "numa_node_exhausted"]
    assert [t.state for t in fired] == ["pending", "firing"]
    assert "nearly full (2.6% available) while another has 91.0%" in fired[-1].summary
    one_node = ruleset.load(Config(), ProcFS(CURRENT), ProcFS(HERE))
    assert "one NUMA node" in one_node.skipped["numa_node_exhausted"]


def test_settings_and_missing_sources_are_read_every_few_samples_and_one_node_files_not_at_all(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    shutil.copytree(HERE, sysfs)
    first = system.sample(ProcFS(CURRENT), ProcFS(sysfs), one_node=False)
    assert first.nodes == () and first.thp["enabled"] == "madvise"  # one node: nothing beyond meminfo
    (sysfs / "kernel/mm/transparent_hugepage/enabled").write_text("[always] madvise never\n")
    kept = system.sample(ProcFS(CURRENT), ProcFS(sysfs), previous=first, settings=False, one_node=False)
    assert kept.thp["enabled"] == "madvise" and kept.zswap == first.zswap  # the settings of last time
    fresh = system.sample(ProcFS(CURRENT), ProcFS(sysfs), previous=kept, settings=True, one_node=False)
    assert fresh.thp["enabled"] == "always"
    # a source missing at the last look (no KSM here) is looked for again with the settings, not before
    assert "ksm" not in fresh.unavailable
    shutil.rmtree(sysfs / "kernel/mm/ksm")
    gone = system.sample(ProcFS(CURRENT), ProcFS(sysfs), previous=fresh, settings=True, one_node=False)
    assert "ksm" in gone.unavailable
    shutil.copytree(HERE / "kernel/mm/ksm", sysfs / "kernel/mm/ksm")
    still = system.sample(ProcFS(CURRENT), ProcFS(sysfs), previous=gone, settings=False, one_node=False)
    assert "ksm" in still.unavailable and still.ksm == {}
    back = system.sample(ProcFS(CURRENT), ProcFS(sysfs), previous=still, settings=True, one_node=False)
    assert "ksm" not in back.unavailable and back.ksm
