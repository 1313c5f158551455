"""Efficiency rates: exact arithmetic on synthetic counters, and every kernel generation's names."""

from __future__ import annotations

import pytest
from conftest import CURRENT, OLD_3_10, OLD_4_19, run_memmond

from memmond.model import efficiency
from memmond.model.snapshot import Sampler, Snapshot
from memmond.sources.pagecache import PAGE_SIZE
from memmond.sources.procfs import ProcFS
from memmond.sources.vmstat import VmStat, parse


def vm(t: float, boot: str = "b", **counters: int) -> Snapshot:
    return Snapshot(t, t, boot, None, VmStat(counters), None)


def test_rates_are_counter_increases_per_second() -> None:
    before = vm(
        10,
        workingset_refault_file=1000,
        workingset_restore_file=10,
        pgmajfault=5,
        pgpgin=4000,
        pgpgout=0,
        pgsteal_kswapd=100,
        pgscan_kswapd=200,
        pgsteal_direct=0,
        pgscan_direct=0,
        allocstall_normal=3,
        allocstall_movable=1,
        pgactivate=0,
        workingset_activate_file=0,
    )
    after = vm(
        12,
        workingset_refault_file=1400,
        workingset_restore_file=30,
        pgmajfault=25,
        pgpgin=8000,
        pgpgout=2048,
        pgsteal_kswapd=500,
        pgscan_kswapd=1000,
        pgsteal_direct=0,
        pgscan_direct=0,
        allocstall_normal=7,
        allocstall_movable=3,
        pgactivate=50,
        workingset_activate_file=8,
    )
    r = efficiency.rates(before, after)
    assert r["refaults"] == 200 and r["thrashing"] == 10 and r["major_faults"] == 10
    assert r["paged_in"] == 2000 * 1024 and r["paged_out"] == 1024 * 1024
    assert r["reclaim_efficiency_kswapd"] == 0.5
    assert r["reclaim_efficiency_direct"] is None  # nothing scanned: no ratio
    assert r["direct_reclaim_stalls"] == 3  # (7 + 3 - 3 - 1) / 2 s
    assert r["cache_miss_ratio"] == pytest.approx(200 / (2000 * 1024 / PAGE_SIZE))
    assert r["activations"] == 25 and r["refault_activations"] == 4


def test_reset_other_boot_and_missing_counters_give_none() -> None:
    assert efficiency.rates(vm(1, pgmajfault=100), vm(2, pgmajfault=5))["major_faults"] is None
    assert efficiency.rates(vm(1, pgmajfault=1), vm(2, boot="other", pgmajfault=5))["major_faults"] is None
    assert efficiency.rates(vm(1), vm(2))["refaults"] is None


def test_old_kernel_names_are_mapped() -> None:
    old = Sampler(ProcFS(OLD_3_10)).capture()
    raw = parse((OLD_3_10 / "vmstat").read_text())
    zones = ("dma", "dma32", "normal", "movable")
    assert efficiency.counter(old, "pgsteal_kswapd") == sum(raw[f"pgsteal_kswapd_{z}"] for z in zones)
    assert efficiency.counter(old, "pgscan_direct") == sum(raw[f"pgscan_direct_{z}"] for z in zones)
    assert efficiency.counter(old, "allocstall") == raw["allocstall"]
    assert efficiency.counter(old, "workingset_refault_file") is None  # 3.10 had no workingset counters
    v419 = Sampler(ProcFS(OLD_4_19)).capture()
    assert efficiency.counter(v419, "workingset_refault_file") == 3386215  # pre-5.9 unsplit name
    assert efficiency.counter(v419, "allocstall") == 214 + 3380  # allocstall_normal + allocstall_movable
    current = Sampler(ProcFS(CURRENT)).capture()
    assert all(
        efficiency.counter(current, name) is not None
        for name in (
            "workingset_refault_file",
            "workingset_restore_file",
            "pgsteal_kswapd",
            "pgscan_direct",
            "allocstall",
        )
    )


def test_show_prints_the_rates() -> None:
    result = run_memmond("show", "--rates-over", "0.2")
    assert result.returncode == 0, result.stderr
    assert "Page cache efficiency  /proc/vmstat over 0.2 s" in result.stdout
    assert "estimated cache miss fraction" in result.stdout


def test_thp_fallback_is_the_share_of_huge_page_faults_that_fell_back() -> None:
    before = vm(0, thp_fault_alloc=100, thp_fault_fallback=10)
    after = vm(10, thp_fault_alloc=130, thp_fault_fallback=20)  # 30 allocated, 10 fell back
    assert efficiency.rates(before, after)["thp_fallback"] == pytest.approx(0.25)
    quiet = vm(20, thp_fault_alloc=130, thp_fault_fallback=20)
    assert efficiency.rates(after, quiet)["thp_fallback"] is None  # no huge page fault at all: no share
