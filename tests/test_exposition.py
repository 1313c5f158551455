"""The exposition: memmond's own encoder writes the bytes prometheus_client writes, the default series
budget holds, and every vmstat field is one setting away."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from conftest import ALL_TREES, CURRENT, FIXTURES, RunningDaemon
from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from memmond.config import Config, ConfigError, parse
from memmond.rules import ruleset
from memmond.serve.daemon import Daemon, Overrides
from memmond.serve.exposition import VMSTAT_DEFAULT, Published, gzip_compress
from memmond.serve.http import wants_openmetrics
from memmond.serve.textformat import Encoder, Family, go_float
from memmond.sources.procfs import ProcFS

SERIES_BUDGET = 250  # default /metrics, before cgroups


def published(
    tree: Path,
    config: Config | None = None,
    samples: int = 3,
    cgroups: list[str] | None = None,
    sysfs: Path | None = None,
) -> Published:
    """What the daemon publishes after a few samples of a fixture tree (or the real /proc), with the
    subsystems of `sysfs` (the real /sys for /proc, none for a fixture unless given)."""
    cfg = config or Config()
    procfs = ProcFS(str(tree))
    if sysfs is None:
        sysfs = Path("/sys") if str(tree) == "/proc" else tree / "no-sysfs"
    daemon = Daemon(
        cfg, None, Overrides(), procfs, ruleset.load(cfg, procfs), cgroup_roots=cgroups, sysfs=ProcFS(sysfs)
    )
    for _ in range(samples):
        daemon.sample_system(time.monotonic())
        daemon.sample_cgroups(time.monotonic())
        daemon.sample_once()
        time.sleep(0.002)
    assert daemon.latest is not None
    return daemon.latest


class _Registry:
    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        """The same families as prometheus_client objects, to render with its own encoders."""
        out = []
        for family in self.families:
            metric = Metric(family.name, family.help, family.type, family.unit)
            metric.samples = [Sample(family.name + s, dict(labels), v) for s, labels, v in family.samples]
            out.append(metric)
        return out


def _series(families: list[Family]) -> int:
    return sum(len(family.samples) for family in families)


@pytest.mark.parametrize("tree", [*ALL_TREES, Path("/proc")], ids=lambda p: p.name or "proc")
def test_text_and_openmetrics_are_byte_for_byte_what_prometheus_client_writes(tree: Path) -> None:
    cfg = dataclasses.replace(Config(), vmstat_exported="all")
    families = published(tree, cfg).families()
    families.append(Family("memmond_test_escapes", "gauge", 'help with \\ and\nnewline and "quotes"'))
    families[-1].add(1.0, (("rule", "quoted"), ("team", 'in"fra\\ops\nnight')))
    registry = _Registry(families)
    assert Encoder(openmetrics=False).render(families) == generate_latest(registry)  # type: ignore[arg-type]
    assert Encoder(openmetrics=True).render(families) == generate_openmetrics(registry)
    encoder = Encoder(openmetrics=False)
    encoder.render(families)
    assert encoder.render(families) == generate_latest(registry)  # type: ignore[arg-type]  # from the caches too


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(2**63), max_value=2**64))
@example(0)
@example(999_999)
@example(1_000_000)
@example(10_100_000)
@example(2**53 - 1)
@example(2**53)
@example(-(2**53) + 1)
@example(25_769_803_776)
def test_numbers_print_as_prometheus_client_prints_them(value: float) -> None:
    assert go_float(value) == floatToGoString(value)


def test_default_exposition_stays_within_the_series_budget() -> None:
    for tree in [*ALL_TREES, Path("/proc")]:  # /proc with this host's /sys: one node, KSM and zswap off
        count = _series(published(tree).families())
        assert count <= SERIES_BUDGET, (tree, count)
    # A host with every subsystem in use (two nodes, two huge page sizes, KSM, zram, zswap) pays for them:
    # 88 series here, listed in the README; bounded all the same.
    rich = _series(published(CURRENT, sysfs=FIXTURES / "sysfs-two-nodes").families())
    assert rich <= SERIES_BUDGET + 60, rich


def test_vmstat_all_exports_every_field_and_default_only_the_allow_list() -> None:
    pub_default = published(Path("/proc"))
    pub_all = published(Path("/proc"), dataclasses.replace(Config(), vmstat_exported="all"))
    assert pub_default.snapshot.vmstat is not None
    every = {name for name, _ in pub_default.snapshot.vmstat.items()}

    def exported(pub: Published) -> set[str]:
        return {f.name.removeprefix("memmond_vmstat_") for f in pub.families() if f.name.startswith("memmond_vmstat_")}

    assert len(exported(pub_all)) == len(every)
    default = exported(pub_default)
    for needed in (
        "oom_kill",
        "pgpgin",
        "pswpin",
        "pgfault",
        "pgmajfault",
        "pgscan_kswapd",
        "pgsteal_direct",
        "workingset_refault_file",
        "compact_stall",
        "thp_fault_alloc",
    ):
        assert needed in default, needed
    assert not any(name.startswith("nr_") for name in default)
    assert VMSTAT_DEFAULT.match("pgsteal_kswapd_normal") and VMSTAT_DEFAULT.match("workingset_refault")  # old kernels


def test_exposition_vmstat_setting_is_validated() -> None:
    assert parse("exposition:\n  vmstat: all\n").vmstat_exported == "all"
    with pytest.raises(ConfigError, match=r"exposition\.vmstat: expected one of"):
        parse("exposition:\n  vmstat: some\n")


def test_gzip_output_is_gzip() -> None:
    import gzip

    data = b"memmond " * 1000
    assert gzip.decompress(gzip_compress(data)) == data


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", True),
        ("text/plain", False),
        ("", False),
        (None, False),
        ("application/openmetrics-text;q=0, text/plain", False),
        ("Application/OpenMetrics-Text", True),
    ],
)
def test_format_negotiation(accept: str | None, openmetrics: bool) -> None:
    assert wants_openmetrics(accept) is openmetrics


def test_a_fresh_render_is_the_same_whether_or_not_the_caches_are_warm() -> None:
    pub = published(CURRENT)
    first = pub.render(False, False)[0]
    again = dataclasses.replace(pub, _cache={}, _families=None).render(False, False)[0]
    assert first == again


def test_the_daemon_serves_the_budget_and_vmstat_all_on_request(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("exposition:\n  vmstat: all\n")
    with RunningDaemon() as daemon:
        default = daemon.metrics()
    with RunningDaemon("--config", str(config)) as daemon:
        every = daemon.metrics()
    assert len(default) <= SERIES_BUDGET
    assert any(name.startswith("memmond_vmstat_nr_") for name in every)
    assert not any(name.startswith("memmond_vmstat_nr_") for name in default)


def test_cgroup_families_are_byte_for_byte_what_prometheus_client_writes(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "cg"
    shutil.copytree(FIXTURES / "cgroup-v2-systemd", root)
    odd = root / "system.slice" / 'we"ird\\ \nnäme.service'
    shutil.copytree(root / "system.slice" / "cron.service", odd)
    (odd / "memory.current").write_text(f"{10 << 30}\n")  # the largest: kept, not summed into "other"
    cfg = dataclasses.replace(Config(), cgroups=dataclasses.replace(Config().cgroups, detail="full", max_cgroups=8))
    families = published(CURRENT, cfg, cgroups=[str(root)]).families()
    assert any(f.name == "memmond_cgroup_memory_stat_bytes" and f.samples for f in families)
    paths = {dict(labels).get("cgroup") for f in families for _, labels, _ in f.samples}
    assert "other" in paths and any(path and "näme" in path for path in paths)
    registry = _Registry(families)
    assert Encoder(openmetrics=False).render(families) == generate_latest(registry)  # type: ignore[arg-type]
    assert Encoder(openmetrics=True).render(families) == generate_openmetrics(registry)


def test_an_encoder_that_reuses_unchanged_families_writes_what_a_fresh_one_writes() -> None:
    from memmond.serve.textformat import Encoder, counter, gauge

    def families(step: int) -> list:
        return [
            gauge("memmond_static", "never changes", 1.0),
            gauge("memmond_moving", "changes every step", float(step)),
            counter("memmond_events_total", "changes every other step", step // 2),
            gauge("memmond_labelled", "a label set that grows").add(1.0, (("a", "x"),)).add(2, (("a", str(step)),)),
        ]

    for openmetrics in (False, True):
        kept = Encoder(openmetrics)
        for step in range(6):
            assert kept.render(families(step)) == Encoder(openmetrics).render(families(step)), step


def test_a_family_handed_on_again_is_copied_from_its_kept_text_in_each_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from memmond.serve import textformat

    same = [textformat.gauge("memmond_static", "never changes", 1.0), textformat.counter("memmond_n_total", "n", 7)]
    text, openmetrics = Encoder(False).render(same), Encoder(True).render(same)
    formatted: list[float] = []
    real = textformat.go_float
    monkeypatch.setattr(textformat, "go_float", lambda value: formatted.append(value) or real(value))
    assert Encoder(False).render(same) == text and Encoder(True).render(same) == openmetrics
    assert formatted == []  # neither format formatted a number again: each kept its own text
    assert text != openmetrics and b"# EOF" not in text


def test_families_whose_inputs_did_not_change_are_kept_and_a_change_rebuilds_them() -> None:
    """The rules', PSI's and OOM families are kept from scrape to scrape while what they read stays the
    same (the encoder then copies their text): a rule that fires must still show at the next scrape."""
    cfg = parse("cgroups: {enabled: false}\nrules:\n  - {name: always, expr: 'mem_total > 0', for: 2s}\n")
    procfs = ProcFS(str(CURRENT))
    daemon = Daemon(cfg, None, Overrides(), procfs, ruleset.load(cfg, procfs), sysfs=ProcFS(CURRENT / "no-sysfs"))

    def rule_family(name: str) -> Family:
        assert daemon.latest is not None
        return next(f for f in daemon.latest.families() if f.name == name)

    daemon.sample_once()
    first = rule_family("memmond_rule_active")
    daemon.sample_once()
    assert rule_family("memmond_rule_active") is first  # pending both times: the same object
    assert rule_family("memmond_pressure_stall_ratio") is rule_family("memmond_pressure_stall_ratio")
    daemon.engine.states["always"].since -= 5  # pending for 5 s: the next sample fires it
    daemon.sample_once()
    fired = rule_family("memmond_rule_active")
    assert fired is not first
    assert dict((dict(labels)["rule"], value) for _, labels, value in fired.samples)["always"] == 1.0


def test_a_field_family_is_kept_while_its_value_stands_and_a_new_value_is_rendered(tmp_path: Path) -> None:
    import shutil

    tree = tmp_path / "proc"
    shutil.copytree(CURRENT, tree)
    cfg = parse("cgroups: {enabled: false}\n")
    procfs = ProcFS(str(tree))
    daemon = Daemon(cfg, None, Overrides(), procfs, ruleset.load(cfg, procfs), sysfs=ProcFS(tree / "no-sysfs"))

    def family(name: str) -> Family:
        daemon.sample_once()
        assert daemon.latest is not None
        return next(f for f in daemon.latest.families() if f.name == name)

    total, free = family("memmond_meminfo_mem_total_bytes"), family("memmond_meminfo_mem_free_bytes")
    assert family("memmond_meminfo_mem_total_bytes") is total  # the same file: the same objects
    meminfo = (tree / "meminfo").read_text()
    line = next(line for line in meminfo.splitlines() if line.startswith("MemFree:"))
    (tree / "meminfo").write_text(meminfo.replace(line, "MemFree:         1234 kB"))
    changed = family("memmond_meminfo_mem_free_bytes")
    assert changed is not free and changed.samples[0][2] == 1234 * 1024
    assert family("memmond_meminfo_mem_total_bytes") is total
    assert daemon.latest is not None
    rendered = f"memmond_meminfo_mem_free_bytes {go_float(1234 * 1024)}\n".encode()
    assert rendered in daemon.latest.render(False, False)[0]
    # the one-value families computed from the sample (derived, extremes, self) are kept the same way
    used, lowest_free = family("memmond_memory_used_bytes"), family("memmond_mem_free_min_bytes")
    interval = family("memmond_sample_interval_seconds")
    assert family("memmond_memory_used_bytes") is used and family("memmond_sample_interval_seconds") is interval
    line = next(line for line in meminfo.splitlines() if line.startswith("MemAvailable:"))
    (tree / "meminfo").write_text(meminfo.replace(line, "MemAvailable:    2048 kB"))
    assert family("memmond_memory_used_bytes") is not used
    lower = family("memmond_mem_free_min_bytes")
    assert lower is lowest_free  # MemFree is back to the file's own: the window's lowest stays 1234 kB
    assert lower.samples[0][2] == 1234 * 1024
    assert (
        f"memmond_memory_used_bytes {go_float(float(total.samples[0][2] - 2048 * 1024))}\n".encode()
        in (daemon.latest.render(False, False)[0])
    )
    # another field list (a field more, one less): every family by its new position, none left over
    dirty = next(line for line in meminfo.splitlines() if line.startswith("Dirty:"))
    (tree / "meminfo").write_text(meminfo.replace(dirty + "\n", "") + "Unaccepted:        8 kB\n")
    assert family("memmond_meminfo_unaccepted_bytes").samples[0][2] == 8 * 1024
    assert family("memmond_meminfo_mem_free_bytes").samples[0][2] != 1234 * 1024  # the file's own again
    body = daemon.latest.render(False, False)[0]
    assert b"memmond_meminfo_dirty_bytes" not in body and b"memmond_meminfo_unaccepted_bytes 8192.0\n" in body
    assert family("memmond_meminfo_mem_total_bytes").samples == total.samples


def test_an_observation_counts_in_the_first_bucket_whose_bound_it_does_not_exceed() -> None:
    from memmond.serve.exposition import _count_into

    bounds = (0.001, 0.01, 0.1)
    counts = [0, 0, 0, 0]
    for value in (0.0, 0.001, 0.0010001, 0.01, 0.05, 0.1, 0.2, 1e9):
        _count_into(bounds, counts, value)
    assert counts == [2, 2, 2, 2]  # a value equal to a bound is in that bucket (le); above all: +Inf


def test_a_derived_metrics_help_says_its_formula_once() -> None:
    """HELP is what Grafana's tooltip and every scrape carry: "MemTotal - memory_available. Memory in use:
    MemTotal - memory_available (...)" said it twice, in bytes every host sends on every scrape."""
    from memmond.model.snapshot import DERIVED
    from memmond.serve.exposition import CATALOGUE

    for name, derived in DERIVED.items():
        metric = f"memmond_{name}" + ("_bytes" if derived.unit == "bytes" else "")
        assert CATALOGUE[metric].help.count(derived.formula) <= 1, CATALOGUE[metric].help
        assert CATALOGUE[metric].help == derived.help
