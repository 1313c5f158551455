"""The cgroup source: v2 from a fixture written from Documentation/admin-guide/cgroup-v2.rst, v1 from a
capture of this machine (with a real OOM kill), hybrid pressure, the live tree, and bad input."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from cgroup_trees import many_services
from conftest import FIXTURES
from hypothesis import given
from hypothesis import strategies as st

from memmond.model import cgroups
from memmond.sources import cgroup
from memmond.sources.cgroup import CgroupGone, KeptFiles, Selection, Tree

V2 = FIXTURES / "cgroup-v2-systemd"
V1 = FIXTURES / "cgroup-v1-memory"
HYBRID = FIXTURES / "cgroup-hybrid-unified"
MiB, GiB = 1 << 20, 1 << 30


def by_path(tree: Tree, selection: Selection | None = None) -> dict[str, cgroup.CgroupMemory]:
    return {c.path: c for c in cgroup.walk(tree, selection)}


def test_one_number_files_and_limits() -> None:
    assert cgroup.parse_value("536870912\n") == 536870912
    assert cgroup.parse_value("max\n") is None
    assert cgroup.parse_v1_limit("9223372036854771712\n") is None  # v1's "unlimited"
    assert cgroup.parse_v1_limit("67108864\n") == 64 * MiB
    for bad in ("", "-1", "12 kB", "²"):
        with pytest.raises(ValueError):
            cgroup.parse_value(bad)


def test_flat_files_keep_new_fields_and_name_bad_lines() -> None:
    values, skipped = cgroup.parse_flat("low 0\nhigh 3\nsomething_new 7\nbroken\nhigh 4\nmax x\n")
    assert values == {"low": 0, "high": 3, "something_new": 7}
    assert [(line.lineno, line.reason) for line in skipped] == [
        (4, "expected 'name value'"),
        (5, "duplicate field high"),
        (6, "expected 'name value'"),
    ]


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        ("/system.slice/nginx.service", "nginx.service"),
        ("/system.slice/nginx.service/workers", "nginx.service"),
        ("/user.slice/user-1000.slice/session-3.scope", "session-3.scope"),
        ("/process_api/079ab0495724552116bcc49cd6abeb88", ""),
        ("/", ""),
    ],
)
def test_unit_of_a_path(path: str, unit: str) -> None:
    assert cgroup.unit_of(path) == unit


def test_stat_fields_are_classified_as_bytes_or_counters() -> None:
    assert cgroup.is_counter("pgfault") and cgroup.is_counter("workingset_refault_file")
    assert cgroup.is_counter("thp_fault_alloc") and cgroup.is_counter("zswpout")
    assert not cgroup.is_counter("anon") and not cgroup.is_counter("file_dirty") and not cgroup.is_counter("zswap")


def test_v2_systemd_host() -> None:
    tree = Tree.from_roots([V2])
    assert tree is not None and tree.memory.version == 2 and tree.pressure_root == V2
    found = by_path(tree)
    assert list(found) == [
        "/",
        "/init.scope",
        "/system.slice",
        "/system.slice/cron.service",
        "/system.slice/docker-4c1e1d9b3a2f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a49382716f5e.scope",
        "/system.slice/nginx.service",
        "/system.slice/postgresql.service",
        "/user.slice",
        "/user.slice/user-1000.slice",
        "/user.slice/user-1000.slice/session-3.scope",
        "/user.slice/user-1000.slice/user@1000.service",
    ]  # not /system.slice/nginx.service/workers (no unit), nothing below depth 3
    nginx = found["/system.slice/nginx.service"]
    assert nginx.unit == "nginx.service" and nginx.version == 2
    assert nginx.current == 430 * MiB and nginx.peak == 505 * MiB
    assert dict(nginx.limits) == {"max": 512 * MiB, "high": 480 * MiB}  # low/min 0: no protection, absent
    assert nginx.working_set == 430 * MiB - 25 * MiB
    assert nginx.anon == 380 * MiB and nginx.file == 40 * MiB and nginx.shmem == 8 * MiB and nginx.kernel == 10 * MiB
    assert nginx.events["oom_kill"] == 2 and nginx.events["high"] == 300 and nginx.events["oom_group_kill"] == 0
    assert nginx.pressure is not None and nginx.pressure.some is not None
    assert nginx.pressure.some.avg10 == pytest.approx(0.142) and nginx.pressure.full.total_us == 1_700_420
    assert nginx.procs == 0 and found["/system.slice/postgresql.service"].procs == 5
    assert dict(found["/system.slice/postgresql.service"].limits) == {"max": 8 * GiB, "low": 2 * GiB}
    docker = found["/system.slice/docker-4c1e1d9b3a2f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a49382716f5e.scope"]
    assert docker.swap == 64 * MiB and docker.swap_limit == 256 * MiB
    assert found["/system.slice"].events_local["oom_kill"] == 0  # the kills happened below it
    assert found["/user.slice"].limit is None
    root = found["/"]
    assert root.current is None and root.stat["anon"] == 3 * GiB  # the root has no memory.current in v2
    deeper = by_path(tree, Selection(max_depth=5))
    assert "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope" in deeper


def test_v1_capture_with_a_real_oom_kill_and_hybrid_pressure() -> None:
    tree = Tree.from_roots([V1, HYBRID])
    assert tree is not None and tree.memory.version == 1 and tree.pressure_root == HYBRID
    found = by_path(tree)
    assert list(found) == ["/", "/memmond-test-capture.scope", "/process_api/079ab0495724552116bcc49cd6abeb88"]
    killed = found["/memmond-test-capture.scope"]
    assert killed.version == 1 and killed.limit == 64 * MiB and killed.peak == 64 * MiB
    assert killed.events["oom_kill"] == 1 and killed.under_oom is False
    assert killed.swap == 0 and killed.swap_limit == 0  # memsw limit = memory limit: no swap allowed
    assert killed.pressure is not None and killed.pressure.some.avg10 == pytest.approx(0.3124)
    assert killed.working_set is not None and killed.working_set <= killed.current
    root = found["/"]
    assert root.limit is None and "soft" not in root.limits  # "unlimited" is no limit, not 9.2 EB
    assert root.stat["pgfault"] > 0 and "hierarchical_memory_limit" not in root.stat  # total_* fields
    container = found["/process_api/079ab0495724552116bcc49cd6abeb88"]
    assert container.unit == "" and container.procs == 14
    alone = Tree.from_roots([V1])
    assert alone is not None and alone.pressure_root is None
    assert by_path(alone)["/memmond-test-capture.scope"].pressure is None


def test_mount_table_finds_cgroup2_and_the_v1_memory_controller() -> None:
    hybrid = (
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    )
    assert cgroup.mounts(hybrid) == [Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/unified")]
    unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    assert cgroup.mounts(unified) == [Path("/sys/fs/cgroup")]
    assert cgroup.mounts("garbage\n\n") == []


def test_selection_globs() -> None:
    tree = Tree.from_roots([V2])
    assert tree is not None
    services = by_path(tree, Selection(include=("/system.slice/*.service",)))
    assert list(services) == [
        "/",
        "/system.slice/cron.service",
        "/system.slice/nginx.service",
        "/system.slice/postgresql.service",
    ]
    without = by_path(tree, Selection(exclude=("/user.slice*",)))
    assert not any(path.startswith("/user.slice") for path in without)


def test_a_cgroup_removed_mid_walk_is_left_out(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    shutil.copytree(V2, root)

    class Vanishing(Tree):
        def read(self, relative: str) -> cgroup.CgroupMemory:
            if relative == "system.slice/nginx.service":
                shutil.rmtree(root / relative)  # gone between listing and reading
            return super().read(relative)

    tree = Tree.from_roots([root])
    assert tree is not None
    found = by_path(Vanishing(tree.memory, tree.pressure_root))
    assert "/system.slice/nginx.service" not in found and "/system.slice/postgresql.service" in found
    with pytest.raises(CgroupGone):
        cgroup.read_v2(root / "system.slice" / "nginx.service", "/system.slice/nginx.service")


def test_garbage_files_and_odd_names_degrade_without_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    shutil.copytree(V2, root)
    nginx = root / "system.slice" / "nginx.service"
    (nginx / "memory.max").write_text("lots\n")
    (nginx / "memory.stat").write_text("anon 1\n\x00garbage\nfile x\n")
    (nginx / "memory.pressure").write_text("nonsense\n")
    (nginx / "memory.current").unlink()
    odd = root / "system.slice" / 'we"ird\nnäme.service'
    shutil.copytree(root / "system.slice" / "cron.service", odd)
    found = by_path(Tree.from_roots([root]))  # type: ignore[arg-type]
    broken = found["/system.slice/nginx.service"]
    assert broken.current is None and broken.working_set is None and "max" not in broken.limits
    assert broken.anon == 1 and broken.file is None and len(broken.skipped) == 2
    assert broken.pressure is None
    assert found['/system.slice/we"ird\nnäme.service'].unit == 'we"ird\nnäme.service'


def test_this_machine_live_tree() -> None:
    roots = [p for p in cgroup.mounts(Path("/proc/self/mountinfo").read_text()) if p.exists()]
    tree = Tree.from_roots(roots)
    if tree is None:
        pytest.skip("no cgroup memory hierarchy mounted here")
    found = cgroup.walk(tree)
    assert found and found[0].path == "/"
    assert all(c.current is None or c.current > 0 for c in found)


@given(st.text(max_size=400))
def test_flat_parser_takes_any_text(text: str) -> None:
    values, skipped = cgroup.parse_flat(text)
    assert all(isinstance(v, int) for v in values.values())
    assert len(values) + len(skipped) <= len(text.splitlines())


@given(st.text(max_size=40))
def test_value_parser_takes_any_text(text: str) -> None:
    try:
        value = cgroup.parse_value(text)
    except ValueError:
        return
    assert value is None or value >= 0


@given(st.text(max_size=600))
def test_mount_parser_takes_any_text(text: str) -> None:
    assert all(isinstance(p, Path) for p in cgroup.mounts(text))


# -- in the daemon ---------------------------------------------------------------------------------------------


def _many_services(tmp_path: Path, count: int) -> Path:
    return many_services(tmp_path / "many", count)


def _series_per_cgroup(metrics: dict[str, float]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in metrics:
        if name.startswith("memmond_cgroup_") and 'cgroup="' in name:
            path = name.split('cgroup="', 1)[1].split('"', 1)[0]
            counts[path] = counts.get(path, 0) + 1
    return counts


def test_the_daemon_exposes_cgroups_within_the_series_budget(tmp_path: Path) -> None:
    import subprocess

    from conftest import CURRENT, RunningDaemon

    with RunningDaemon("--procfs", str(CURRENT), "--cgroupfs", str(_many_services(tmp_path, 60))) as daemon:
        metrics = daemon.metrics()
        status, _, body = daemon.get("/metrics")
    nginx = 'cgroup="/system.slice/nginx.service",unit="nginx.service"'
    assert metrics[f"memmond_cgroup_memory_bytes{{{nginx}}}"] == 430 * MiB
    limit = 'cgroup="/system.slice/nginx.service",kind="max",unit="nginx.service"'
    assert metrics[f"memmond_cgroup_memory_limit_bytes{{{limit}}}"] == 512 * MiB
    assert metrics[f"memmond_cgroup_memory_working_set_bytes{{{nginx}}}"] == 405 * MiB
    events = 'cgroup="/system.slice/nginx.service",event="oom_kill",unit="nginx.service"'
    assert metrics[f"memmond_cgroup_memory_events_total{{{events}}}"] == 2
    stalled = 'cgroup="/system.slice/nginx.service",kind="some",unit="nginx.service"'
    assert metrics[f"memmond_cgroup_pressure_stalled_seconds_total{{{stalled}}}"] == pytest.approx(3.901245)
    # 72 cgroups found, 50 kept (the root and the 49 largest), the rest in "other"
    per_cgroup = _series_per_cgroup(metrics)
    assert len(per_cgroup) == 51 and "other" in per_cgroup
    assert metrics["memmond_cgroups_dropped"] == 71 - 50
    assert max(per_cgroup.values()) <= 12
    assert len(metrics) < 1000, len(metrics)
    promtool = shutil.which("promtool")
    assert promtool
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert status == 200 and lint.returncode == 0 and lint.stdout == b"" and lint.stderr == b"", lint


def test_a_per_cgroup_rule_fires_in_the_daemon_with_a_series_and_an_event_per_cgroup(tmp_path: Path) -> None:
    from conftest import CURRENT, RunningDaemon

    rules = tmp_path / "m.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: half_full\n"
        "    for_each: cgroup\n"
        "    expr: cgroup_memory > 50% * cgroup_memory_max\n"
        "    labels: {team: web}\n"
        "    summary: '{{ unit }} uses {{ cgroup_memory | bytes }}'\n"
    )
    with RunningDaemon("--procfs", str(CURRENT), "--cgroupfs", str(V2), "--config", str(rules)) as daemon:
        metrics = daemon.metrics()
        stderr = daemon.stderr()
    # nginx.service holds 430 of 512 MiB, the docker scope 700 MiB of 1 GiB; the others are under half
    docker = "/system.slice/docker-4c1e1d9b3a2f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a49382716f5e.scope"
    firing = {key: value for key, value in metrics.items() if key.startswith("memmond_cgroup_rule_active{")}
    assert firing == {
        'memmond_cgroup_rule_active{cgroup="/system.slice/nginx.service",rule="half_full",severity="warning",'
        'team="web",unit="nginx.service"}': 1,
        f'memmond_cgroup_rule_active{{cgroup="{docker}",rule="half_full",severity="warning",team="web",'
        f'unit="{docker[14:]}"}}': 1,
    }
    assert metrics['memmond_rule_active{rule="half_full",severity="warning",team="web"}'] == 2
    assert metrics['memmond_rule_events_total{rule="half_full",severity="warning"}'] == 2
    assert "rule half_full firing for /system.slice/nginx.service: nginx.service uses 430.0 MiB" in stderr
    assert "cgroup=/system.slice/nginx.service" in stderr and "unit=nginx.service" in stderr


def test_full_detail_and_switching_cgroups_off(tmp_path: Path) -> None:
    from conftest import CURRENT, RunningDaemon

    full = tmp_path / "full.yaml"
    full.write_text("cgroups:\n  detail: full\n  include: ['/system.slice/*']\n")
    off = tmp_path / "off.yaml"
    off.write_text("cgroups:\n  enabled: false\n")
    with RunningDaemon("--procfs", str(CURRENT), "--cgroupfs", str(V2), "--config", str(full)) as daemon:
        metrics = daemon.metrics()
    item = 'cgroup="/system.slice/nginx.service",item="{}",unit="nginx.service"'
    assert metrics["memmond_cgroup_memory_stat_bytes{" + item.format("file_dirty") + "}"] == 12288
    assert metrics["memmond_cgroup_memory_stat_events_total{" + item.format("pgmajfault") + "}"] == 3
    assert (
        'memmond_cgroup_memory_events_total{cgroup="/system.slice/nginx.service",event="oom_group_kill",'
        'unit="nginx.service"}' in metrics
    )
    assert not any('cgroup="/user.slice' in name for name in metrics)
    with RunningDaemon("--procfs", str(CURRENT), "--cgroupfs", str(V2), "--config", str(off)) as daemon:
        assert not any(name.startswith("memmond_cgroup") for name in daemon.metrics())


def test_hybrid_roots_given_twice(tmp_path: Path) -> None:
    from conftest import CURRENT, RunningDaemon

    with RunningDaemon("--procfs", str(CURRENT), "--cgroupfs", str(V1), "--cgroupfs", str(HYBRID)) as daemon:
        metrics = daemon.metrics()
    limit = 'cgroup="/memmond-test-capture.scope",kind="max",unit="memmond-test-capture.scope"'
    assert metrics[f"memmond_cgroup_memory_limit_bytes{{{limit}}}"] == 64 * MiB
    events = 'cgroup="/memmond-test-capture.scope",event="oom_kill",unit="memmond-test-capture.scope"'
    assert metrics[f"memmond_cgroup_memory_events_total{{{events}}}"] == 1
    stalled = 'cgroup="/memmond-test-capture.scope",kind="full",unit="memmond-test-capture.scope"'
    assert metrics[f"memmond_cgroup_pressure_stalled_seconds_total{{{stalled}}}"] == pytest.approx(0.59872)


def test_other_sums_dropped_subtrees_once(tmp_path: Path) -> None:
    from memmond.model.cgroups import OTHER, sample

    def tree(sizes: dict[str, int]) -> Tree:
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        root.mkdir()
        (root / "cgroup.controllers").write_text("memory\n")
        for path, size in sizes.items():
            (root / path).mkdir(parents=True)
            (root / path / "memory.current").write_text(f"{size}\n")
        found = Tree.from_roots([root])
        assert found is not None
        return found

    shape = {"a.slice": 50, "a.slice/x.service": 40, "b.service": 30, "c.service": 5}
    result = sample(tree(shape), Selection(), max_cgroups=2)
    assert [c.path for c in result.cgroups] == ["/", "/a.slice", OTHER] and result.dropped == 3
    # x.service is inside a.slice, which is kept: b, c and x are the dropped subtrees, 40 + 30 + 5
    assert result.cgroups[-1].current == 75 and result.found == 5
    result = sample(tree({"a.slice": 50, "a.slice/x.service": 40}), Selection(), max_cgroups=1)
    assert result.cgroups[-1].current == 50 and result.dropped == 2  # x inside dropped a.slice: counted once


# -- memmond cgroups ----------------------------------------------------------------------------------------

GOLDEN_V2 = """\
cgroup                           memory  % limit   anon   file  swap  psi10  oom
system.slice                      5.0Gi        -  2.0Gi  2.7Gi    0B   2.5%    2
postgresql.service                3.0Gi      38%  1.0Gi  2.0Gi    0B   0.0%    0
user.slice                        900Mi        -  500Mi  350Mi    0B   0.0%    0
user-1000.slice                   900Mi      22%  500Mi  350Mi    0B   0.0%    0
session-3.scope                   880Mi        -  490Mi  345Mi    0B   0.0%    0
docker-4c1e1d9b…382716f5e.scope   700Mi      68%  600Mi   90Mi  64Mi   0.0%    0
nginx.service                     430Mi      84%  380Mi   40Mi    0B  14.2%    2
user@1000.service                 420Mi        -  310Mi   95Mi    0B   0.0%    0
init.scope                         48Mi        -   12Mi   30Mi    0B   0.0%    0
cron.service                      3.0Mi        -  1.0Mi  1.0Mi    0B   0.0%    0
/                                     -        -  3.0Gi  6.0Gi     -   0.1%    -
"""


def test_cgroups_command_fits_80_columns_sorted_by_memory() -> None:
    from conftest import run_memmond

    result = run_memmond("cgroups", "--cgroupfs", str(V2), env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN_V2
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_cgroups_command_sorts_json_and_refuses_bad_input() -> None:
    import json

    from conftest import run_memmond

    by_limit = run_memmond("cgroups", "--cgroupfs", str(V2), "--sort", "limit", env={"COLUMNS": "80"})
    assert [line.split()[0] for line in by_limit.stdout.splitlines()[1:3]] == [
        "nginx.service",
        "docker-4c1e1d9b…382716f5e.scope",
    ]
    by_oom = run_memmond("cgroups", "--cgroupfs", str(V1), "--cgroupfs", str(HYBRID), "--sort", "oom")
    assert by_oom.stdout.splitlines()[1].startswith("memmond-test-capture.scope")
    doc = json.loads(run_memmond("cgroups", "--cgroupfs", str(V2), "--json").stdout)
    nginx = next(item for item in doc if item["path"] == "/system.slice/nginx.service")
    assert nginx["current_bytes"] == 430 * MiB and nginx["limits_bytes"] == {"max": 512 * MiB, "high": 480 * MiB}
    assert nginx["events"]["oom_kill"] == 2 and nginx["pressure"]["some"]["avg10"] == pytest.approx(0.142)
    assert run_memmond("cgroups", "--depth", "-1").returncode == 2
    assert run_memmond("cgroups", "--watch", "--interval", "0").returncode == 2
    missing = run_memmond("cgroups", "--cgroupfs", "/tmp")
    assert missing.returncode == 1 and "no cgroup hierarchy" in missing.stderr


def test_show_ends_with_the_five_largest_cgroups() -> None:
    from conftest import CURRENT, run_memmond

    result = run_memmond("--procfs", str(CURRENT), "show", "--rates-over", "0", "--cgroupfs", str(V2))
    assert result.returncode == 0, result.stderr
    tail = result.stdout.split("Cgroups  the largest; `memmond cgroups` lists them all\n", 1)[1].splitlines()
    assert [line.split()[0] for line in tail[1:]] == [
        "system.slice",
        "postgresql.service",
        "user.slice",
        "user-1000.slice",
        "session-3.scope",
    ]
    plain = run_memmond("--procfs", str(CURRENT), "show", "--rates-over", "0")  # no mount table in the fixture
    assert "Cgroups" not in plain.stdout


@pytest.mark.parametrize("roots", [[V2], [V1, HYBRID]], ids=["v2", "v1 hybrid"])
def test_a_walk_keeping_its_files_open_reads_what_a_walk_opening_each_reads(tmp_path: Path, roots: list[Path]) -> None:
    copies = []
    for root in roots:
        shutil.copytree(root, tmp_path / root.name)
        copies.append(tmp_path / root.name)
    once = Tree.from_roots(copies)
    assert once is not None
    kept = dataclasses.replace(once, files=KeptFiles())
    expected = cgroups.sample(once, Selection(), 50)
    for _ in range(2):  # the first walk opens, the second reads through the kept descriptors
        walked = cgroups.sample(kept, Selection(), 50)
        assert walked.cgroups == expected.cgroups
    files = kept.files
    assert isinstance(files, KeptFiles) and files.fds
    # A value written in place is read anew through the same descriptor.
    some = next(c for c in walked.cgroups if c.path != "/")
    usage = "memory.current" if once.memory.version == 2 else "memory.usage_in_bytes"
    (copies[0] / some.path.lstrip("/") / usage).write_text("4096\n")
    walked = cgroups.sample(kept, Selection(), 50)
    assert next(c for c in walked.cgroups if c.path == some.path).current == 4096
    # A cgroup that left the tree: its files are closed at the end of the walk.
    shutil.rmtree(copies[0] / some.path.lstrip("/"))
    walked = cgroups.sample(kept, Selection(), 50)
    assert some.path not in {c.path for c in walked.cgroups}
    assert not any(path.startswith(f"{copies[0]}{some.path}/") for path in files.fds)
    kept_open, open_before = len(files.fds), len(os.listdir("/proc/self/fd"))
    files.close()
    assert not files.fds and len(os.listdir("/proc/self/fd")) == open_before - kept_open


def test_a_tree_that_fits_is_read_once_a_walk_and_ranked_by_memory() -> None:
    """Below max_cgroups there is nothing to drop, so no ranking pass: each file is read once a walk."""
    reads: dict[str, int] = {}

    class Counting(cgroup.Files):
        def read(self, directory: Path | str, name: str) -> str | None:
            reads[f"{directory}/{name}"] = reads.get(f"{directory}/{name}", 0) + 1
            return super().read(directory, name)

    tree = Tree.from_roots([V2])
    assert tree is not None
    walked = cgroups.sample(dataclasses.replace(tree, files=Counting()), Selection(), 50)
    assert reads and max(reads.values()) == 1
    assert walked.cgroups[0].path == "/" and walked.dropped == 0 and walked.found == len(walked.cgroups)
    currents = [c.current or 0 for c in walked.cgroups[1:]]
    assert currents == sorted(currents, reverse=True) and len(currents) > 3
    assert walked.cgroups == cgroups.sample(tree, Selection(), 50).cgroups
