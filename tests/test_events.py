"""Memory events: PSI triggers armed on this machine's kernel (which refuses 1 s windows without
CAP_SYS_RESOURCE), a real memory stall made in a memory-limited cgroup of our own, and the polling
fallback where the kernel will not arm a trigger."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import CURRENT, RunningDaemon
from test_oom import OwnCgroup

from memmond import config
from memmond.config import ConfigError, PsiTriggerConfig
from memmond.model.recorder import FIELDS, EventRecord, FlightRecorder, column, read_record
from memmond.serve.events import EventStore
from memmond.sources import psi_trigger
from memmond.sources.psi_trigger import TriggerRefused, TriggerSpec

PSI = Path("/proc/pressure/memory")
V1_MEMORY = Path("/sys/fs/cgroup/memory")
MiB = 1 << 20
MACHINE_EVENTS = 'memmond_psi_trigger_events_total{cgroup="/",kind="some"}'


def test_an_unprivileged_window_is_a_whole_multiple_of_two_seconds() -> None:
    assert [psi_trigger.unprivileged_window_us(w) for w in (500_000, 1_000_000, 2_000_000, 3_100_000, 30_000_000)] == [
        2_000_000,
        2_000_000,
        2_000_000,
        4_000_000,
        10_000_000,
    ]


@pytest.mark.skipif(not PSI.exists(), reason="this kernel has no PSI")
def test_the_kernel_arms_a_two_second_trigger_and_refuses_one_second() -> None:
    fd = psi_trigger.arm(str(PSI), TriggerSpec("some", 150_000, 2_000_000))
    try:
        total = psi_trigger.stall_seconds(fd, "some")
        assert total is not None and total >= 0  # the trigger's descriptor reads as the pressure file
    finally:
        os.close(fd)
    if os.geteuid() == 0 and _has_cap_sys_resource():
        pytest.skip("with CAP_SYS_RESOURCE the kernel takes any window")
    with pytest.raises(TriggerRefused) as refused:
        psi_trigger.arm(str(PSI), TriggerSpec("some", 150_000, 1_000_000))
    assert refused.value.errno == errno.EINVAL and "the kernel refused the values" in refused.value.reason


def _has_cap_sys_resource() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def test_a_plain_file_is_never_written_as_a_trigger(tmp_path: Path) -> None:
    captured = tmp_path / "memory"
    shutil.copy(CURRENT / "pressure" / "memory", captured)
    before = captured.read_bytes()
    with pytest.raises(TriggerRefused, match="is not a kernel pressure file"):
        psi_trigger.arm(str(captured), TriggerSpec("some", 150_000, 2_000_000))
    assert captured.read_bytes() == before
    with pytest.raises(TriggerRefused, match="does not exist"):
        psi_trigger.arm(str(tmp_path / "missing"), TriggerSpec("some", 150_000, 2_000_000))


def test_trigger_settings_are_checked_with_file_and_line() -> None:
    text = (
        "events:\n"
        "  psi_triggers:\n"
        "    - {kind: some, stall: 2s, window: 2s}\n"
        "    - {kind: partial, window: 20s}\n"
        "    - {cgroup: system.slice}\n"
        "    - {kind: full, stall: 100ms, window: 4s, cgroup: /system.slice/nginx.service/}\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "m.yaml")
    problems = caught.value.problems
    assert problems[0] == "m.yaml:3:7: events.psi_triggers[0]: stall (2s) must be shorter than the window (2s)"
    assert any(p.startswith("m.yaml:4:14: events.psi_triggers[1].kind: expected one of some, full") for p in problems)
    assert any(
        p.startswith("m.yaml:4:31: events.psi_triggers[1].window: must be between 0.5s and 10s") for p in problems
    )
    assert any(
        "events.psi_triggers[2].cgroup: expected a cgroup path like /system.slice/nginx.service" in p for p in problems
    )
    assert len(problems) == 4
    good = config.parse(text.split("    - {kind: some")[0] + text.splitlines(keepends=True)[5], "m.yaml")
    assert good.events.psi_triggers == (PsiTriggerConfig("full", 0.1, 4.0, "/system.slice/nginx.service"),)
    assert config.parse("", "m.yaml").events.psi_triggers == (PsiTriggerConfig("some", 0.15, 2.0),)


def test_a_trigger_the_kernel_will_not_arm_is_polled(tmp_path: Path) -> None:
    """A captured tree: its pressure file is a plain file, so the trigger is polled at each sample; growing
    the stall total by more than the threshold fires it, once."""
    procfs = tmp_path / "proc"
    shutil.copytree(CURRENT, procfs, symlinks=True)
    memory = procfs / "pressure" / "memory"
    lines = memory.read_text().splitlines()
    total = int(lines[0].rsplit("=", 1)[1])
    cfg = tmp_path / "m.yaml"
    cfg.write_text("interval: 200ms\nevents:\n  psi_triggers:\n    - {kind: some, stall: 150ms, window: 2s}\n")
    with RunningDaemon("--procfs", str(procfs), "--config", str(cfg)) as daemon:
        metrics = daemon.metrics()
        assert metrics['memmond_psi_triggers{mode="polling"}'] == 1
        assert metrics['memmond_psi_triggers{mode="kernel"}'] == 0
        assert "PSI trigger: some 150 ms in 2 s on the machine: polled" in daemon.stderr()
        assert "is not a kernel pressure file" in daemon.stderr()
        time.sleep(0.5)
        assert daemon.metrics().get(MACHINE_EVENTS, 0) == 0  # no stall yet
        grown = lines[0].replace(f"total={total}", f"total={total + 400_000}")  # +400 ms of stall
        _replace(memory, "\n".join([grown, *lines[1:]]) + "\n")
        daemon.wait_for(lambda: daemon.metrics().get(MACHINE_EVENTS) == 1, 5, "the polled trigger")
        time.sleep(1.0)
        assert daemon.metrics()[MACHINE_EVENTS] == 1  # the total stays: no second event
        assert "memory stall on the machine" in daemon.stderr() and "stall_mode=polling" in daemon.stderr()


def _replace(path: Path, text: str) -> None:
    new = path.with_suffix(".new")
    new.write_text(text)
    new.replace(path)


def _can_stall() -> str | None:
    if not PSI.exists():
        return "this kernel has no PSI"
    if os.geteuid() != 0:
        return "creating memory cgroups needs root"
    if not (V1_MEMORY / "memory.limit_in_bytes").exists():
        return "no v1 memory controller at /sys/fs/cgroup/memory"
    return None


STALLER = """
import os, sys, time
# Anonymous memory the 48 MiB limit cannot reclaim (no swap), sized from what this interpreter holds
# already so that ~6 MiB are left whichever python runs it (Debian's starts 2 MiB smaller than pyenv's,
# and with 36 MiB flat its stalls came too seldom for the trigger in a busy run).
anon = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("RssAnon:")) << 10
hold = bytearray((48 << 20) - anon - (6 << 20))
for i in range(0, len(hold), 4096):
    hold[i] = 1
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:  # the file's pages evict each other in the ~6 MiB left: reclaim stalls
    os.lseek(fd, 0, 0)
    while os.read(fd, 1 << 20):
        pass
"""


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    """128 MiB to read in a loop inside a 48 MiB cgroup (skips where no stall can be made)."""
    reason = _can_stall()
    if reason:
        pytest.skip(reason)
    big = tmp_path / "big"
    with big.open("wb") as out:
        for _ in range(128):
            out.write(os.urandom(MiB))
    return big


def test_a_real_memory_stall_fires_the_kernel_trigger_within_a_window(tmp_path: Path, big_file: Path) -> None:
    big = big_file
    cfg = tmp_path / "m.yaml"
    # a 1 s window is refused without CAP_SYS_RESOURCE: memmond uses 2 s and says so
    cfg.write_text(
        "cgroups: {enabled: false}\nevents:\n  psi_triggers:\n    - {kind: some, stall: 100ms, window: 1s}\n"
    )
    with RunningDaemon("--config", str(cfg)) as daemon:
        assert "only whole multiples of 2 s without CAP_SYS_RESOURCE; some 100000 1000000: 2 s used" in (
            daemon.stderr()
        )
        assert daemon.metrics()['memmond_psi_triggers{mode="kernel"}'] == 1
        before = daemon.metrics().get(MACHINE_EVENTS, 0)
        cgroup = OwnCgroup(48 * MiB)
        try:
            procs = str(cgroup.path / "cgroup.procs")
            started = time.monotonic()
            staller = subprocess.Popen(
                [sys.executable, "-c", STALLER, str(big), "8"],
                preexec_fn=lambda: Path(procs).write_text(str(os.getpid())),
            )
            try:
                daemon.wait_for(lambda: daemon.metrics().get(MACHINE_EVENTS, 0) > before, 10, "the trigger")
                fired_after = time.monotonic() - started
            finally:
                staller.kill()
                staller.wait(10)
            daemon.wait_for(lambda: json.loads(daemon.get("/api/v1/events")[2])["events"], 15, "the event record")
            events_seen = json.loads(daemon.get("/api/v1/events")[2])["events"]
        finally:
            cgroup.remove()
        stderr = daemon.stderr()
    assert fired_after < 8, fired_after
    assert "memory stall on the machine: tasks stalled" in stderr and "stall_mode=kernel" in stderr
    # the stall opened a memory event; its record closes when the fast seconds after the last trigger end
    events = [e for e in events_seen if e["trigger"] == "psi"]
    assert events and max(e["stalled_seconds"] or 0 for e in events) > 0, events_seen


UNIFIED = Path("/sys/fs/cgroup/unified")


def test_a_cgroup_trigger_arms_when_its_cgroup_appears_and_fires_for_that_cgroup(
    tmp_path: Path, big_file: Path
) -> None:
    """On this hybrid host: memory limits in the v1 tree, memory.pressure in the controller-less cgroup2
    tree. The cgroup is made after memmond starts (the trigger is polled, then armed at the next walk),
    the stall happens inside it, and its removal disarms the trigger."""
    if not (UNIFIED / "cgroup.procs").exists():
        pytest.skip(f"no cgroup2 tree at {UNIFIED}")
    big = big_file
    name = f"memmond-test-{uuid.uuid4().hex[:8]}.scope"
    labels = f'cgroup="/{name}",kind="some"'
    cfg = tmp_path / "m.yaml"
    cfg.write_text(
        "cgroups: {interval: 1s}\n"
        f"events:\n  psi_triggers:\n    - {{kind: some, stall: 100ms, window: 2s, cgroup: /{name}}}\n"
    )
    roots = ("--cgroupfs", str(V1_MEMORY), "--cgroupfs", str(UNIFIED))
    made: list[OwnCgroup] = []
    with RunningDaemon("--config", str(cfg), *roots) as daemon:
        assert daemon.metrics()['memmond_psi_triggers{mode="polling"}'] == 1  # no such cgroup yet
        try:
            made.append(OwnCgroup(48 * MiB, V1_MEMORY, name))  # the limit
            made.append(OwnCgroup(None, UNIFIED, name))  # the memory.pressure the trigger watches
            daemon.wait_for(
                lambda: daemon.metrics()['memmond_psi_triggers{mode="kernel"}'] == 1, 5, "the trigger armed"
            )

            def move_in() -> None:
                for cgroup in made:
                    (cgroup.path / "cgroup.procs").write_text(str(os.getpid()))

            staller = subprocess.Popen([sys.executable, "-c", STALLER, str(big), "8"], preexec_fn=move_in)
            try:
                daemon.wait_for(
                    lambda: daemon.metrics().get(f"memmond_psi_trigger_events_total{{{labels}}}", 0) >= 1,
                    10,
                    "the cgroup's trigger",
                )
            finally:
                staller.kill()
                staller.wait(10)
        finally:
            for cgroup in reversed(made):
                cgroup.remove()
        daemon.wait_for(
            lambda: daemon.metrics()['memmond_psi_triggers{mode="polling"}'] == 1, 5, "the trigger disarmed"
        )
        assert f"memory stall on /{name}: tasks stalled" in daemon.stderr()


# -- the flight recorder and event records ------------------------------------------------------------------


def test_the_recorder_ring_keeps_the_newest_points_in_order() -> None:
    ring = FlightRecorder(4)
    for t in range(6):
        ring.add([float(t)] + [float("nan")] * (len(FIELDS) - 1))
    points = ring.points()
    assert [row[0] for row in points] == [2.0, 3.0, 4.0, 5.0] and points[0][2] is None
    assert [row[0] for row in ring.points(since=3.5)] == [4.0, 5.0]
    assert ring.nbytes == 4 * len(FIELDS) * 8


def record(number: int, points: int = 10) -> EventRecord:
    rows = [[float(i), 1.7e9 + i, 1e9 - i] + [None] * (len(FIELDS) - 3) for i in range(points)]
    return EventRecord(
        f"20261125T0000{number:02d}Z-abcd", 1.7e9 + number, float(number), [{"trigger": "rule"}], points=rows
    )


def test_records_are_written_whole_and_bounded_by_count_and_bytes(tmp_path: Path) -> None:
    store = EventStore(str(tmp_path / "events"), max_records=3, max_bytes=10**9)
    for number in range(5):
        store.add(record(number))
    files = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert files == [f"20261125T0000{n:02d}Z-abcd.json" for n in (2, 3, 4)]  # oldest removed first
    assert [s["id"] for s in store.list()] == [f"20261125T0000{n:02d}Z-abcd" for n in (4, 3, 2)]
    whole = json.loads(store.get("20261125T000002Z-abcd") or b"")
    assert whole["fields"] == list(FIELDS) and column(whole["points"], "mem_available_bytes")[0] == 1e9
    size = (tmp_path / "events" / files[0]).stat().st_size
    small = EventStore(str(tmp_path / "small"), max_records=100, max_bytes=2 * size + 10)
    for number in range(4):
        small.add(record(number))
    assert len(list((tmp_path / "small").iterdir())) == 2
    # a restart finds the records a previous run left; a corrupt or truncated one is skipped
    (tmp_path / "events" / "20261125T000009Z-dead.json").write_text('{"id": "20261125T000009Z-dead", "poi')
    again = EventStore(str(tmp_path / "events"), max_records=3, max_bytes=10**9)
    assert [s["id"] for s in again.list()] == [f"20261125T0000{n:02d}Z-abcd" for n in (4, 3, 2)]
    assert again.get("20261125T000009Z-dead") is None and again.get("../../etc/passwd") is None
    assert read_record(tmp_path / "events" / "20261125T000009Z-dead.json") is None


def test_an_unusable_state_directory_keeps_records_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    store = EventStore(str(blocker / "events"), max_records=10, max_bytes=10**9)
    store.add(record(1))
    assert not store.persisted and "Not a directory" in (store.problem or "")
    assert store.get("20261125T000001Z-abcd") is not None and len(store.list()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_state_directory_keeps_records_in_memory_and_leaves_no_half_file(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)], check=True)
    try:
        store = EventStore(str(full), max_records=100, max_bytes=10**9)
        store.add(record(1, points=5))
        assert store.persisted
        store.add(record(2, points=5000))  # ~400 KB: does not fit
        assert not store.persisted and "No space left on device" in (store.problem or "")
        assert sorted(p.name for p in full.iterdir()) == ["20261125T000001Z-abcd.json"]  # no temporary left
        assert store.get("20261125T000002Z-abcd") is not None
    finally:
        subprocess.run(["umount", str(full)], check=True)


def test_a_rule_with_record_opens_an_event_whose_record_survives_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    cfg = tmp_path / "m.yaml"
    cfg.write_text(
        "interval: 200ms\nextremes_window: 1s\n"  # the rates' window shorter than the recorder's seconds
        "events:\n  psi_triggers: []\n  recorder_seconds: 3s\n  recorder_interval: 100ms\n  fast_duration: 1s\n"
        f"  directory: {directory}\n"
        "rules:\n  - {name: later, expr: 'rate(pgmajfault) >= 0 and delta(mem_total, 4s) == 0', record: true}\n"
    )
    with RunningDaemon("--procfs", "/proc", "--config", str(cfg), "--kmsg", "none") as daemon:
        daemon.wait_for(lambda: daemon.metrics().get('memmond_events_total{trigger="rule"}') == 1, 10, "an event")
        daemon.wait_for(lambda: json.loads(daemon.get("/api/v1/events")[2])["events"], 5, "the record")
        listing = json.loads(daemon.get("/api/v1/events")[2])
        assert listing["persisted"] is True and listing["directory"] == str(directory)
        (summary,) = listing["events"]
        assert summary["trigger"] == "rule" and summary["min_available_bytes"] > 0
        status, _, body = daemon.get(f"/api/v1/events/{summary['id']}")
        whole = json.loads(body)
        assert status == 200 and whole["trigger_list"][0]["rule"] == "later"
        times = column(whole["points"], "monotonic")
        opened, closed = whole["started_monotonic"], whole["ended_monotonic"]
        assert min(times) < opened - 1.5  # the recorder's seconds before the rule fired
        assert max(times) > opened + 0.8 and closed - opened >= 1.0  # the fast second after it
        assert column(whole["points"], "pgscan")  # vmstat's reclaim counters in fast mode
        # Built when the event closes, the record still reads the history's samples from before it whole
        # (the history keeps whole tables only for what may still read them): their reclaim counters too.
        at, pgscan = FIELDS.index("monotonic"), FIELDS.index("pgscan")
        assert min(row[at] for row in whole["points"] if row[pgscan] is not None) < opened - 2.5
        assert daemon.metrics()["memmond_event_records_persisted"] == 1
        assert f"memory event {summary['id']} (rule)" in daemon.stderr()
        assert daemon.get("/api/v1/events/20990101T000000Z-0000")[0] == 404
        assert daemon.get("/api/v1/events/..%2F..%2Fetc")[0] == 404
    assert (directory / f"{summary['id']}.json").exists()
    cfg.write_text(cfg.read_text().replace("record: true", "record: false"))
    with RunningDaemon("--procfs", "/proc", "--config", str(cfg), "--kmsg", "none") as daemon:
        assert [e["id"] for e in json.loads(daemon.get("/api/v1/events")[2])["events"]] == [summary["id"]]


def test_the_events_cli_lists_and_shows_records_from_a_state_directory(tmp_path: Path) -> None:
    store = EventStore(str(tmp_path), max_records=10, max_bytes=10**9)
    rows = []
    for i in range(30):  # 3 s at 10 Hz: available falls 100 MiB, stall grows 0.5 s in the last second
        values = [100.0 + i / 10, 1.7e9 + i / 10, float((2048 - i * 3.4) * MiB), None, float(512 * MiB), None, None]
        values += [5.0 + (0.05 * (i - 19) if i > 19 else 0.0), None] + [None] * (len(FIELDS) - 9)
        rows.append(values)
    event = EventRecord(
        "20261125T100000Z-beef",
        1.7e9 + 1.0,
        101.0,
        [{"trigger": "psi", "time": 1.7e9 + 1.0, "kind": "some", "cgroup": "/"}],
        ended_wall=1.7e9 + 3.0,
        points=rows,
        cgroups=[
            {
                "cgroup": "/system.slice/app.service",
                "memory_bytes": 3 * 2**30,
                "grown_bytes": 2**27,
                "stalled_seconds": 0.4,
            }
        ],
        oom_kills=[
            {"time": 1.7e9 + 2, "pid": 42, "command": "app", "cgroup": "/system.slice/app.service", "rss_bytes": 2**30}
        ],
    )
    store.add(event)
    (tmp_path / "20261125T090000Z-0bad.json").write_text("{trunc")

    def memmond(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "memmond", *args], capture_output=True, text=True, timeout=30)

    listed = memmond("events", "--dir", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert "psi" in listed.stdout and "20261125T100000Z-beef" in listed.stdout and "1.9 GiB" in listed.stdout
    assert "/system.slice/app.service" in listed.stdout
    assert "skipping" in listed.stderr and "0bad" in listed.stderr  # the truncated file, said and skipped
    shown = memmond("events", "20261125T100000Z-beef", "--dir", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "memory event 20261125T100000Z-beef: psi" in text
    assert "available  █" in text  # a curve that falls
    assert "stalled    ▁" in text and "up to 50.0% of the time" in text
    assert "+1.8s" in text and "-1.0s" in text  # the timeline runs from before the trigger to after it
    assert "app (pid 42) in /system.slice/app.service, rss 1.0 GiB" in text
    as_json = json.loads(memmond("events", "--dir", str(tmp_path), "--json").stdout)
    assert [e["id"] for e in as_json] == ["20261125T100000Z-beef"]
    missing = memmond("events", "20990101T000000Z-0000", "--dir", str(tmp_path))
    assert missing.returncode != 0 and "no readable event" in missing.stderr
    nobody = memmond("events", "--url", "http://127.0.0.1:9")
    assert nobody.returncode != 0 and "cannot reach memmond" in nobody.stderr


def test_a_trigger_storm_is_a_few_long_events_not_thousands() -> None:
    """A PSI trigger every 2 s for an hour: events of at most MAX_EVENT_SECONDS, each listing its first
    triggers and counting the rest; a quiet spell longer than the fast mode ends an event."""
    from memmond.serve.events import MAX_EVENT_SECONDS, MAX_TRIGGERS_KEPT, Events

    clock = [0.0]
    timers: list[tuple[float, object]] = []
    records: list[EventRecord] = []
    fast_changes: list[bool] = []
    store = EventStore(None, max_records=1000, max_bytes=10**9)
    events = Events(
        store,
        fast_seconds=10.0,
        before_seconds=60.0,
        set_fast=fast_changes.append,
        call_at=lambda when, callback: timers.append((when, callback)),
        build=lambda record: None,
        on_record=records.append,
        clock=lambda: clock[0],
        wall_clock=lambda: 1.7e9 + clock[0],
    )

    def advance(to: float) -> None:
        while True:
            due = sorted((when, i) for i, (when, _) in enumerate(timers) if when <= to)
            if not due:
                break
            when, index = due[0]
            _, callback = timers.pop(index)
            clock[0] = max(clock[0], when)
            callback()  # type: ignore[operator]
        clock[0] = to

    for second in range(0, 3600, 2):
        advance(float(second))
        events.trigger("psi", {"kind": "some"})
    advance(3600.0 + 60)
    assert len(records) == 3600 / MAX_EVENT_SECONDS  # 12, not 1,800
    assert all(r.ended_monotonic - r.started_monotonic <= MAX_EVENT_SECONDS + 10 for r in records)  # type: ignore[operator]
    assert len(records[0].triggers) == MAX_TRIGGERS_KEPT and records[0].triggers_dropped > 0
    assert records[0].summary()["triggers"] == MAX_EVENT_SECONDS / 2
    assert events.events_total == {"psi": 12} and len(store.list()) == 12
    assert fast_changes[:2] == [True, False]
    # two triggers 30 s apart (more than the 10 s of fast mode) are two events
    advance(4000.0)
    events.trigger("oom_kill", {"pid": 1})
    advance(4030.0)
    events.trigger("oom_kill", {"pid": 2})
    advance(4100.0)
    assert [r.trigger for r in records[-2:]] == ["oom_kill", "oom_kill"]


def test_pressure_reaching_critical_opens_an_event(tmp_path: Path) -> None:
    procfs = tmp_path / "proc"
    shutil.copytree(CURRENT, procfs, symlinks=True)
    meminfo = procfs / "meminfo"
    lines = meminfo.read_text().splitlines()
    total_kb = int(next(line for line in lines if line.startswith("MemTotal:")).split()[1])
    low = [f"MemAvailable:   {total_kb // 100} kB" if line.startswith("MemAvailable:") else line for line in lines]
    cfg = tmp_path / "m.yaml"
    cfg.write_text("interval: 200ms\nevents: {fast_duration: 1s, psi_triggers: []}\n")
    with RunningDaemon("--procfs", str(procfs), "--config", str(cfg)) as daemon:
        assert daemon.metrics()['memmond_events_total{trigger="pressure_critical"}'] == 0
        _replace(meminfo, "\n".join(low) + "\n")  # 1 % available
        daemon.wait_for(
            lambda: daemon.metrics().get('memmond_events_total{trigger="pressure_critical"}') == 1, 10, "the event"
        )
        daemon.wait_for(lambda: json.loads(daemon.get("/api/v1/events")[2])["events"], 5, "its record")
        (summary,) = json.loads(daemon.get("/api/v1/events")[2])["events"]
        assert summary["trigger"] == "pressure_critical" and summary["min_available_bytes"] == total_kb // 100 * 1024
