"""The fleet path for real: 20 memmond hosts, each with its own `host` label, scraped by a Prometheus 2.42
in agent mode and remote-written into VictoriaMetrics; the alert rules evaluated centrally by vmalert,
alerts delivered to Alertmanager; every query of the fleet dashboard answered by the store with data.
Bad input: the store goes down for a while (the agent buffers, memmond never notices), two hosts share
a host label (the store keeps them apart by instance), a host flaps (down, then back).

The fixture builds one stack for the module (~40 s); the tests read it in file order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetstack import Stack, http_get, missing_programs, wait
from test_grafana import FLEET_DASHBOARD, RICH_HOST, _exprs, one_oom_kill, service_args, substitute
from test_oom import MiB, OwnCgroup, _can_cause_oom

pytestmark = pytest.mark.fleet
ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "config" / "prometheus" / "memmond-alerts.yml"
PRESSURE_HOST = ("--procfs", str(ROOT / "tests" / "fixtures" / "linux-6.18-x86_64-pressure"))
HOSTS = 20
REAL_HOSTS = HOSTS - 2  # the last two read fixture trees: every subsystem and services, a host under pressure
FLAPPING = "host-17"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    missing = missing_programs()
    assert not missing, f"{missing} missing: packaging/dev-setup.sh --test installs the Debian packages"
    workdir = tmp_path_factory.mktemp("fleet")
    stack = Stack(workdir)
    config = workdir / "memmond.yaml"
    config.write_text("interval: 1s\nevents: {psi_triggers: []}\n")
    rich_config = workdir / "rich.yaml"
    rich_config.write_text("interval: 1s\nsystem: {interval: 1s}\nbuiltin_rules: {enabled: false}\n")
    common = ("--config", str(config), "--journal", "none")
    with one_oom_kill(workdir) as kmsg:
        # the first two both "host-00": two machines a CMDB gave the same name
        hosts = [("host-00" if i < 2 else f"host-{i:02d}", common) for i in range(REAL_HOSTS)]
        hosts.append(
            ("host-rich", (*RICH_HOST, "--config", str(rich_config), *service_args(kmsg), "--journal", "none"))
        )
        hosts.append(("host-pressure", (*PRESSURE_HOST, *common, "--kmsg", "none")))
        try:
            stack.start_hosts(hosts)
            stack.start_store()
            stack.start_agent()
            stack.start_alerting(RULES)
            wait("every host in the store", lambda: len(stack.query('up{job="memmond"} == 1')) == HOSTS, 60,
                 list(stack.procs.values()))  # fmt: skip
            # the store goes down for 6 s: the agent keeps scraping into its WAL and retries the writes
            stack.stop("victoria-metrics")
            outage_started = time.time()
            before = [_samples_taken(h.target) for h in stack.hosts[:3]]
            time.sleep(6)
            after = [_samples_taken(h.target) for h in stack.hosts[:3]]
            outage_ended = time.time()
            stack.start_store()
            yield {
                "stack": stack,
                "outage": (outage_started, outage_ended),
                "samples_during_outage": list(zip(before, after, strict=True)),
            }
        except BaseException:
            print(stack.logs())
            raise
        finally:
            stack.close()


def _samples_taken(target: str) -> int:
    """memmond_samples_total, from the host's own /metrics."""
    text = http_get(f"http://{target}/metrics?name[]=memmond_samples_total").decode()
    (line,) = [line for line in text.splitlines() if line.startswith("memmond_samples_total ")]
    return int(float(line.split()[1]))


def test_every_host_arrives_in_the_store_under_its_host_label(fleet: dict) -> None:
    stack: Stack = fleet["stack"]
    per_host = {r["metric"]["host"]: int(r["value"][1]) for r in stack.query('count by (host) (up{job="memmond"})')}
    assert len(per_host) == HOSTS - 1 and per_host["host-00"] == 2 and per_host["host-rich"] == 1
    # memmond's own series arrive with the labels the agent added
    builds = stack.query('memmond_build_info{job="memmond"}')
    assert {r["metric"]["instance"] for r in builds} == {h.target for h in stack.hosts}


def test_duplicate_host_labels_stay_apart_by_instance(fleet: dict) -> None:
    stack: Stack = fleet["stack"]
    twins = stack.query('memmond_memory_available_bytes{host="host-00"}')
    assert len(twins) == 2 and len({r["metric"]["instance"] for r in twins}) == 2


def test_the_agent_buffers_while_the_store_is_down_and_memmond_never_notices(fleet: dict) -> None:
    stack: Stack = fleet["stack"]
    started, ended = fleet["outage"]
    # memmond went on sampling at 1 Hz while nothing could take the agent's writes
    for before, after in fleet["samples_during_outage"]:
        assert after - before >= 4, (before, after)
    # and what the agent scraped then reached the store once it came: every host up, every scrape
    window = f'up{{job="memmond"}}[{int(ended - started) - 1}s]'

    def scrapes_during_outage() -> list[dict]:
        found = stack.query(f"count_over_time({window})", at=ended - 0.5)
        return found if len(found) == HOSTS and all(int(r["value"][1]) >= 3 for r in found) else []

    # the backlog arrives in order behind the retries: wait for it, then every one of those scrapes was up
    wait("the agent's backlog from the outage in the store", scrapes_during_outage, 30)
    assert all(r["value"][1] == "1" for r in stack.query(f"min_over_time({window})", at=ended - 0.5))


def test_alerts_are_evaluated_centrally_and_reach_alertmanager(fleet: dict) -> None:
    stack: Stack = fleet["stack"]
    # the pressure fixture host is at level high: vmalert, reading the store, has the alert pending
    # (for: 5m) with the host's labels; nothing else is
    pending = wait(
        "MemoryPressureHigh pending in the store",
        lambda: stack.query('ALERTS{alertname="MemoryPressureHigh"}'),
        30,
    )
    assert {r["metric"]["host"] for r in pending} == {"host-pressure"}

    # the rich host's kernel log holds an OOM kill: MemmondCgroupOOMKill has no for:, so it fires and
    # Alertmanager gets it, attributed to host and service
    def delivered() -> list[dict]:
        return [a for a in stack.alertmanager_alerts() if a["labels"]["alertname"] == "MemmondCgroupOOMKill"]

    # Only that kill: the fixture's memory.events counts (kills before memmond first saw the cgroups) are
    # history, which VictoriaMetrics' increase() would count as new (the rule does not use it)
    (alert,) = wait("MemmondCgroupOOMKill in Alertmanager", delivered, 30)
    assert alert["labels"]["host"] == "host-rich" and alert["labels"]["unit"] == "nginx.service"
    assert alert["annotations"]["runbook_url"].startswith("https://")


@pytest.mark.skipif(bool(_can_cause_oom()), reason=str(_can_cause_oom()))
def test_a_real_oom_kill_shows_on_every_real_host_and_pages_for_each(fleet: dict) -> None:
    """One kernel, many memmond: a kill on this machine is a kill on each of the 18 real hosts."""
    stack: Stack = fleet["stack"]
    cgroup = OwnCgroup(64 * MiB)
    try:
        assert cgroup.run_allocator(256) == -9
    finally:
        cgroup.remove()
    firing = wait(
        "OOMKillDetected firing for every real host",
        lambda: (
            (found := stack.query('ALERTS{alertname="OOMKillDetected", alertstate="firing"}'))
            and len(found) == REAL_HOSTS
            and found
        ),
        40,
    )
    assert {r["metric"]["instance"] for r in firing} == {h.target for h in stack.hosts[:REAL_HOSTS]}
    units = stack.query(f'memmond_oom_kills_total{{unit="{cgroup.name}"}}')
    assert len(units) == REAL_HOSTS


def test_every_fleet_dashboard_query_has_data_while_a_host_flaps(fleet: dict) -> None:
    stack: Stack = fleet["stack"]
    (flapping,) = [h for h in stack.hosts if h.label == FLAPPING]
    flapping.stop()
    try:
        wait(f"{FLAPPING} down in the store", lambda: stack.query(f'up{{host="{FLAPPING}"}} == 0'), 30)
        empty = []
        for expr in _exprs(FLEET_DASHBOARD):
            result = stack.query(substitute(expr))
            if not result:
                empty.append(expr)
        assert not empty, f"no data in the store for: {empty}"
        down = stack.query(substitute(_down_table()))
        assert [r["metric"]["host"] for r in down] == [FLAPPING]
        levels = {r["metric"]["level"]: int(float(r["value"][1])) for r in stack.query(
            substitute('count by (level) (memmond_pressure_level{job="memmond", job=~"$job"} == 1)'))}  # fmt: skip
        # every host that answers is counted once, at its level (the real hosts' level depends on this
        # machine's moment, so only the pressure fixture host's is known)
        assert sum(levels.values()) == HOSTS - 1 and levels.get("high", 0) >= 1, levels
        (pressured,) = stack.query('memmond_pressure_level{host="host-pressure"} == 1')
        assert pressured["metric"]["level"] == "high"
    finally:
        flapping.start()
    wait(f"{FLAPPING} back", lambda: flapping.ready() and stack.query(f'up{{host="{FLAPPING}"}} == 1'), 30)


def test_every_host_dashboard_query_is_valid_metricsql(fleet: dict) -> None:
    """The host dashboard runs against the same store: VictoriaMetrics' MetricsQL takes each query."""
    stack: Stack = fleet["stack"]
    from test_grafana import DASHBOARD

    for expr in _exprs(DASHBOARD):
        stack.query(substitute(expr))  # asserts status success


def _down_table() -> str:
    (expr,) = [e for e in _exprs(FLEET_DASHBOARD) if " == 0 or " in e]
    return expr
