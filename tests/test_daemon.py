"""`memmond run` as a process: scraped over HTTP, signalled, watched through a real NOTIFY_SOCKET."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CURRENT, OLD_4_19, RunningDaemon, free_port, run_memmond

from memmond.sources import meminfo


def _meminfo_bytes() -> dict[str, int]:
    info = meminfo.parse(Path("/proc/meminfo").read_text())
    return dict(info.items())


def test_metrics_expose_every_meminfo_field_of_this_kernel_and_pass_promtool(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("interval: 200ms\n")
    with RunningDaemon("--config", str(config)) as daemon:
        # two samples in, so the rate metrics (which need a window) are part of what promtool checks
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 3, 5, "three samples")
        status, headers, body = daemon.get("/metrics")
        metrics = daemon.metrics()
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    real = _meminfo_bytes()
    assert metrics["memmond_meminfo_mem_total_bytes"] == real["MemTotal"]
    exposed = {name for name in metrics if name.startswith("memmond_meminfo_")}
    assert len(exposed) == len(real)  # every field, nothing invented
    assert metrics["memmond_memory_available_ratio"] > 0
    assert metrics['memmond_source_up{source="meminfo"}'] == 1
    assert metrics["memmond_samples_total"] >= 1
    assert any(name.startswith("memmond_vmstat_pgfault") for name in metrics)
    assert metrics["memmond_page_cache_refaults_per_second"] >= 0
    assert metrics["memmond_major_faults_per_second"] >= 0
    assert 0 < metrics["memmond_rates_window_seconds"] <= 1

    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: packaging/dev-setup.sh --test installs the Debian package prometheus"
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert lint.returncode == 0 and lint.stdout == b"" and lint.stderr == b"", lint


def test_openmetrics_negotiation_and_gzip() -> None:
    with RunningDaemon() as daemon:
        status, headers, body = daemon.get("/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
        assert status == 200
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert body.rstrip().endswith(b"# EOF")
        assert b"# UNIT memmond_meminfo_mem_total_bytes bytes" in body

        status, headers, zipped = daemon.get("/metrics", {"Accept-Encoding": "gzip"})
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert b"memmond_meminfo_mem_total_bytes" in gzip.decompress(zipped)


def test_http_routes_methods_and_keep_alive() -> None:
    import http.client

    with RunningDaemon() as daemon:
        status, headers, body = daemon.get("/")
        assert status == 200 and b'href="/metrics"' in body and headers["content-type"].startswith("text/html")
        assert daemon.get("/-/healthy")[0] == 200
        assert daemon.get("/-/ready")[0] == 200
        assert daemon.get("/nope")[0] == 404
        assert daemon.get("/metrics/../etc/passwd")[0] == 404
        status, headers, _ = daemon.get("/metrics", method="POST")
        assert status == 405 and headers["allow"] == "GET, HEAD"
        assert daemon.get("/metrics", method="BREW")[0] == 405
        status, headers, body = daemon.get("/metrics", method="HEAD")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 1000

        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5)
        for _ in range(3):  # three scrapes over one connection
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            assert response.status == 200 and len(response.read()) > 1000
        conn.close()


def test_listen_without_host_serves_ipv4_and_ipv6() -> None:
    import http.client

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "memmond", "run", "--listen", f":{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for host in ("127.0.0.1", "::1"):
            deadline = time.monotonic() + 10
            while True:
                try:
                    conn = http.client.HTTPConnection(host, port, timeout=2)
                    conn.request("GET", "/-/ready")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"no answer on [{host}]:{port}"
                time.sleep(0.05)
    finally:
        proc.terminate()
        assert proc.wait(5) == 0


def test_sigterm_stops_cleanly_within_a_second() -> None:
    with RunningDaemon() as daemon:
        assert daemon.proc is not None
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(5) == 0
        assert time.monotonic() - started < 1.0
        assert "memmond stopped after" in daemon.stderr()


def test_sigint_stops_with_exit_0() -> None:
    with RunningDaemon() as daemon:
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGINT)
        assert daemon.proc.wait(5) == 0


def test_sighup_applies_a_good_config_and_keeps_it_through_a_bad_one(tmp_path: Path) -> None:
    config = tmp_path / "memmond.yaml"
    config.write_text("interval: 1s\n")
    with RunningDaemon("--config", str(config)) as daemon:
        assert daemon.proc is not None
        assert daemon.metrics()["memmond_sample_interval_seconds"] == 1.0

        config.write_text("interval: 200ms\nextremes_window: 30s\n")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.metrics()["memmond_sample_interval_seconds"] == 0.2, 5, "interval 0.2")
        metrics = daemon.metrics()
        assert metrics["memmond_config_last_reload_successful"] == 1
        assert metrics["memmond_extremes_window_seconds"] == 30
        good_reload_time = metrics["memmond_config_last_reload_success_timestamp_seconds"]

        config.write_text("interval: 200ms\nlisten: nowhere\nhistroy_size: 5\n")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.metrics()["memmond_config_last_reload_successful"] == 0, 5, "reload 0")
        metrics = daemon.metrics()
        assert metrics["memmond_sample_interval_seconds"] == 0.2  # the old config still runs
        assert metrics["memmond_config_last_reload_success_timestamp_seconds"] == good_reload_time
        before = metrics["memmond_samples_total"]
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] > before + 2, 5, "sampling goes on")
        stderr = daemon.stderr()
        assert f"{config}:2:9: listen:" in stderr
        assert "histroy_size: unknown key (did you mean 'history_size'?)" in stderr
        assert daemon.stop() == 0


DEEPLY_NESTED = "watch: " + "{a: " * 500 + "1" + "}" * 500 + "\n"


def test_a_deeply_nested_config_is_a_clear_error_and_a_reload_with_it_keeps_the_daemon(tmp_path: Path) -> None:
    config = tmp_path / "memmond.yaml"
    config.write_text(DEEPLY_NESTED)
    result = run_memmond("check-config", str(config))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{config}: nested too deeply" in result.stderr

    config.write_text("interval: 200ms\n")
    with RunningDaemon("--config", str(config)) as daemon:
        assert daemon.proc is not None
        config.write_text(DEEPLY_NESTED)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.metrics()["memmond_config_last_reload_successful"] == 0, 5, "reload 0")
        before = daemon.metrics()["memmond_samples_total"]
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] > before + 2, 5, "sampling goes on")
        assert "nested too deeply" in daemon.stderr()
        assert daemon.metrics()["memmond_sample_interval_seconds"] == 0.2
        assert daemon.stop() == 0


def test_bad_config_at_start_is_a_clear_error_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("interval: soon\n")
    with RunningDaemon("--config", str(config), wait_ready=False) as daemon:
        assert daemon.proc is not None
        assert daemon.proc.wait(10) == 1
    assert f"memmond: error: {config}:1:11: interval: expected a duration like 30s, got 'soon'" in daemon.stderr()


def test_port_in_use_is_a_clear_error() -> None:
    with RunningDaemon() as first:
        other = subprocess.run(
            [sys.executable, "-m", "memmond", "run", "--listen", f"127.0.0.1:{first.port}"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    assert other.returncode == 1
    assert f"cannot listen on 127.0.0.1:{first.port}: Address already in use" in other.stderr


def test_missing_psi_is_reported_as_unavailable_source() -> None:
    with RunningDaemon("--procfs", str(OLD_4_19)) as daemon:
        metrics = daemon.metrics()
        assert metrics['memmond_source_up{source="pressure"}'] == 0
        assert metrics['memmond_source_unavailable{source="pressure"}'] == 1
        assert metrics['memmond_source_errors_total{source="pressure"}'] == 0  # a state, not an error
        assert metrics['memmond_source_up{source="meminfo"}'] == 1
        assert "memmond_pressure_stall_ratio" not in " ".join(metrics)
        assert "source pressure is not available" in daemon.stderr()


def test_a_source_that_disappears_and_returns(tmp_path: Path) -> None:
    tree = tmp_path / "proc"
    shutil.copytree(CURRENT, tree)
    with RunningDaemon("--procfs", str(tree), "--config", str(_fast_config(tmp_path))) as daemon:
        (tree / "vmstat").rename(tree / "vmstat.away")
        daemon.wait_for(lambda: daemon.metrics()['memmond_source_up{source="vmstat"}'] == 0, 5, "vmstat down")
        (tree / "vmstat").write_text("garbage\n")
        daemon.wait_for(
            lambda: daemon.metrics()['memmond_source_errors_total{source="vmstat"}'] >= 2,
            5,
            "errors rising on garbage",
        )
        (tree / "vmstat.away").rename(tree / "vmstat")
        daemon.wait_for(lambda: daemon.metrics()['memmond_source_up{source="vmstat"}'] == 1, 5, "vmstat back")
        assert daemon.metrics()['memmond_source_up{source="meminfo"}'] == 1
    stderr = daemon.stderr()
    assert "source vmstat is not available" in stderr and "source vmstat is back" in stderr


def _fast_config(tmp_path: Path, interval: str = "100ms") -> Path:
    config = tmp_path / "fast.yaml"
    config.write_text(f"interval: {interval}\nextremes_window: 5s\n")
    return config


def test_sampling_keeps_its_schedule_and_skips_ticks_when_slow(tmp_path: Path) -> None:
    with RunningDaemon("--config", str(_fast_config(tmp_path))) as daemon:
        first = daemon.metrics()["memmond_samples_total"]
        time.sleep(2.0)
        taken = daemon.metrics()["memmond_samples_total"] - first
        assert 17 <= taken <= 22, taken  # 10 Hz for 2 s, no drift, no bursts
        assert daemon.metrics()["memmond_samples_skipped_total"] == 0

    # A 4 MB vmstat of duplicate lines takes the slow parser well past the 100 ms interval.
    tree = tmp_path / "slow"
    shutil.copytree(CURRENT, tree)
    (tree / "vmstat").write_text("pgfault 1\n" * 400_000)
    with RunningDaemon("--procfs", str(tree), "--config", str(_fast_config(tmp_path))) as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 3, 15, "three slow samples")
        metrics = daemon.metrics()
        assert metrics["memmond_samples_skipped_total"] >= metrics["memmond_samples_total"] - 1
        assert metrics["memmond_sample_duration_seconds_sum"] / metrics["memmond_samples_total"] > 0.1
        assert metrics['memmond_source_lines_skipped_total{source="vmstat"}'] > 0


def test_window_extremes_are_exposed() -> None:
    with RunningDaemon() as daemon:
        metrics = daemon.metrics()
    for name in ("mem_available_min_bytes", "dirty_max_bytes", "writeback_max_bytes", "mem_free_min_bytes"):
        assert f"memmond_{name}" in metrics
    assert metrics["memmond_mem_available_min_bytes"] <= metrics["memmond_meminfo_mem_available_bytes"]
    assert metrics["memmond_dirty_max_bytes"] >= metrics["memmond_meminfo_dirty_bytes"]
    assert metrics["memmond_extremes_window_seconds"] == 60


# -- rules and pressure levels ---------------------------------------------------------------------------

ALWAYS_RULE = (
    "rules:\n"
    "  - name: always\n"
    "    expr: mem_total > 0\n"
    "    for: 1s\n"
    "    severity: warning\n"
    "    labels: {team: infra}\n"
    "    summary: 'Total memory {{ mem_total | bytes }}'\n"
)
ACTIVE = 'memmond_rule_active{rule="always",severity="warning",team="infra"}'
EVENTS = 'memmond_rule_events_total{rule="always",severity="warning"}'


def test_a_rule_that_is_always_true_fires_once_and_survives_reloads(tmp_path: Path) -> None:
    config = tmp_path / "memmond.yaml"
    config.write_text("interval: 200ms\n" + ALWAYS_RULE)
    with RunningDaemon("--config", str(config)) as daemon:
        assert daemon.proc is not None
        metrics = daemon.metrics()
        assert metrics[ACTIVE] == 0  # pending: for: 1s not passed yet
        assert metrics[ACTIVE] == 0
        daemon.wait_for(lambda: daemon.metrics()[ACTIVE] == 1, 5, "the rule firing")
        assert daemon.metrics()[EVENTS] == 1
        assert daemon.metrics()['memmond_rules_loaded{origin="config"}'] == 1
        daemon.wait_for(lambda: "rule always firing: Total memory" in daemon.stderr(), 5, "the firing log line")

        config.write_text("interval: 300ms\n" + ALWAYS_RULE)  # the rule itself unchanged: state kept
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.metrics()["memmond_sample_interval_seconds"] == 0.3, 5, "good reload")
        config.write_text("interval: [broken\n")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.metrics()["memmond_config_last_reload_successful"] == 0, 5, "bad reload")
        time.sleep(0.7)
        metrics = daemon.metrics()
        assert metrics[ACTIVE] == 1 and metrics[EVENTS] == 1  # still firing, no second event
        assert daemon.stderr().count("rule always firing") == 1
        assert "invalid YAML" in daemon.stderr()


def test_pressure_level_follows_configured_thresholds(tmp_path: Path) -> None:
    config = tmp_path / "memmond.yaml"
    # This machine has less than 99.9 % of its memory available, so it is at least "medium" here,
    # where the seed's defaults say "low".
    config.write_text("interval: 200ms\npressure:\n  levels:\n    medium: {enter: 99.9%, exit: 99.95%}\n")
    with RunningDaemon("--config", str(config)) as daemon:
        metrics = daemon.metrics()
        assert metrics['memmond_pressure_level{level="medium"}'] == 1
        assert metrics['memmond_pressure_level{level="low"}'] == 0
        assert metrics['memmond_pressure_level_changes_total{to="medium"}'] == 1
        daemon.wait_for(lambda: "memory pressure low -> medium" in daemon.stderr(), 5, "the level change logged")
    with RunningDaemon() as default:
        assert default.metrics()['memmond_pressure_level{level="low"}'] == 1


def test_tunables_are_exported_in_base_units() -> None:
    with RunningDaemon() as daemon:
        metrics = daemon.metrics()
    dirty_ratio = int(Path("/proc/sys/vm/dirty_ratio").read_text())
    assert metrics["memmond_vm_dirty_ratio"] == pytest.approx(dirty_ratio / 100)
    expire = int(Path("/proc/sys/vm/dirty_expire_centisecs").read_text())
    assert metrics["memmond_vm_dirty_expire_seconds"] == pytest.approx(expire / 100)
    assert metrics["memmond_vm_min_free_bytes"] == int(Path("/proc/sys/vm/min_free_kbytes").read_text()) * 1024
    assert metrics['memmond_rules_loaded{origin="builtin"}'] == 19


# -- systemd notify protocol -----------------------------------------------------------------------------


class NotifySocket:
    """A real AF_UNIX datagram socket, as systemd passes in NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def receive_until(self, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), message))
            if predicate(message):
                return message
        raise AssertionError(f"no matching notify message in {timeout}s; got {self.messages}")

    def collect(self, seconds: float) -> list[str]:
        """Every message of the next `seconds`."""
        start, until = len(self.messages), time.monotonic() + seconds
        while time.monotonic() < until:
            with contextlib.suppress(TimeoutError):
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
        return [message for _, message in self.messages[start:]]


def test_sd_notify_ready_watchdog_status_stopping(tmp_path: Path) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000"}
    with RunningDaemon(env=env, wait_ready=False) as daemon:
        ready = notify.receive_until(lambda m: "READY=1" in m, timeout=10)
        # READY comes only once the port answers and the first sample is in.
        assert daemon.get("/-/ready")[0] == 200
        assert "STATUS=pressure low; available " in ready

        pings = 0
        start = time.monotonic()
        while time.monotonic() - start < 1.0:
            notify.receive_until(lambda m: "WATCHDOG=1" in m, timeout=1)
            pings += 1
        assert pings >= 4  # every WATCHDOG_USEC/4 = 100 ms

        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        notify.receive_until(lambda m: "RELOADING=1" in m and "MONOTONIC_USEC=" in m, timeout=3)
        notify.receive_until(lambda m: "READY=1" in m, timeout=3)

        daemon.proc.send_signal(signal.SIGTERM)
        notify.receive_until(lambda m: "STOPPING=1" in m, timeout=3)
        assert daemon.proc.wait(5) == 0


def test_status_is_sent_at_once_when_the_level_changes_and_not_every_second_otherwise(tmp_path: Path) -> None:
    """Each STATUS= wakes systemd and emits a D-Bus signal: memmond sent one a second, which also cost it
    +45 % of its CPU. Now STATUS follows the level, the firing rules and the sources' health at once, and
    the figures in it every 15 s."""
    tree = tmp_path / "proc"
    shutil.copytree(CURRENT, tree)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000"}
    args = ("--procfs", str(tree), "--config", str(_fast_config(tmp_path)))
    with RunningDaemon(*args, env=env, wait_ready=False):
        notify.receive_until(lambda m: "READY=1" in m, timeout=10)
        quiet = notify.collect(2.0)  # 20 samples of an unchanging host, 20 watchdog pings
        assert quiet and all(m == "WATCHDOG=1" for m in quiet), quiet

        meminfo = (tree / "meminfo").read_text()
        total_kib = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal:")))
        low = "\n".join(
            f"MemAvailable:   {total_kib // 100} kB" if line.startswith("MemAvailable:") else line
            for line in meminfo.splitlines()
        )
        (tree / "meminfo").write_text(low + "\n")  # 1 % available: critical
        changed = time.monotonic()
        status = notify.receive_until(lambda m: m.startswith("STATUS=pressure critical"), timeout=5)
        assert time.monotonic() - changed < 2.0, "the level change waited for the periodic STATUS"
        assert "available " in status


def test_no_watchdog_pings_without_watchdog_usec(tmp_path: Path) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    with RunningDaemon(env={"NOTIFY_SOCKET": str(notify.path)}, wait_ready=False):
        notify.receive_until(lambda m: "READY=1" in m, timeout=10)
        later = notify.collect(1.2)
    assert not any("WATCHDOG=1" in m for m in later)


# -- journald --------------------------------------------------------------------------------------------

JOURNALD = Path("/lib/systemd/systemd-journald")


@pytest.fixture
def journald():
    """A standalone systemd-journald (runs without systemd as PID 1, as root)."""
    if os.geteuid() != 0:
        pytest.skip("a standalone systemd-journald needs root to create /run/systemd/journal")
    if not JOURNALD.exists() or not shutil.which("journalctl"):
        pytest.skip("systemd-journald is not installed")
    if Path("/run/systemd/journal/socket").exists():
        pytest.skip("a journald is already running on this machine; not touching it")
    proc = subprocess.Popen([str(JOURNALD)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path("/run/systemd/journal/socket").exists():
            assert time.monotonic() < deadline, "journald did not create its socket"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree("/run/systemd/journal", ignore_errors=True)
        shutil.rmtree("/run/log/journal", ignore_errors=True)


def _journal_entries(**match: str) -> list[dict[str, str]]:
    import json

    args = ["journalctl", "-o", "json", "--no-pager", *(f"{k}={v}" for k, v in match.items())]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_journald_gets_structured_entries_and_a_dead_journald_falls_back(journald, tmp_path: Path) -> None:
    tree = tmp_path / "proc"
    shutil.copytree(OLD_4_19, tree)  # no PSI: a source_down event to look for
    config = tmp_path / "memmond.yaml"
    config.write_text("interval: 200ms\n" + ALWAYS_RULE)
    with RunningDaemon("--log-target", "journal", "--procfs", str(tree), "--config", str(config)) as daemon:
        assert daemon.proc is not None
        pid = str(daemon.proc.pid)

        def logged(event: str) -> list[dict[str, str]]:
            return _journal_entries(SYSLOG_IDENTIFIER="memmond", _PID=pid, MEMMOND_EVENT=event)

        daemon.wait_for(lambda: bool(logged("started")) and bool(logged("source_down")), 10, "journal entries")
        (started,) = logged("started")
        assert started["MESSAGE_ID"] == "7a95847dd21c468ab9f3a7778541fa75"
        assert started["PRIORITY"] == "6"
        assert started["MEMMOND_PORT"] == str(daemon.port)
        assert started["MESSAGE"].startswith("memmond 0.")
        (down,) = logged("source_down")
        assert down["MEMMOND_SOURCE"] == "pressure" and "does not exist" in down["MEMMOND_REASON"]

        def always_firing() -> list[dict[str, str]]:
            return [e for e in logged("rule_firing") if e["MEMMOND_RULE"] == "always"]

        daemon.wait_for(lambda: bool(always_firing()), 10, "the rule_firing entry")
        (firing,) = always_firing()
        assert firing["MESSAGE_ID"] == "9cb48291fae442ab836fb3ee917cda34"
        assert firing["PRIORITY"] == "4"  # severity warning
        assert firing["MEMMOND_RULE"] == "always" and firing["MEMMOND_STATE"] == "firing"
        assert float(firing["MEMMOND_VALUE"]) == 8069392 * 1024  # MemTotal of the 4.19 tree
        assert firing["MEMMOND_LABEL_TEAM"] == "infra"
        assert firing["MESSAGE"] == "rule always firing: Total memory 7.7 GiB"

        # journald goes away, its socket file stays: sends now fail with ConnectionRefusedError.
        journald.terminate()
        journald.wait(10)
        daemon.proc.send_signal(signal.SIGHUP)  # makes the daemon log
        daemon.wait_for(lambda: "config reloaded" in daemon.stderr(), 5, "fallback to stderr")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.stderr().count("config reloaded") == 2, 5, "second line on stderr")
        assert daemon.stderr().count("journald is unreachable") == 1
        assert daemon.get("/metrics")[0] == 200
        assert daemon.stop() == 0


def test_journal_target_without_journald_falls_back_to_stderr_and_says_so() -> None:
    """libsystemd drops messages silently when its socket is missing: memmond must not."""
    if Path("/run/systemd/journal/socket").exists():
        pytest.skip("a journald is running on this machine: the missing-socket case cannot be shown")
    with RunningDaemon("--log-target", "journal") as daemon:
        daemon.wait_for(lambda: "listening on" in daemon.stderr(), 5, "the start line on stderr")
        assert "journald is unreachable" in daemon.stderr()
        assert daemon.stop() == 0
    assert "memmond stopped after" in daemon.stderr()


def test_journal_entries_use_the_native_protocol_for_multiline_values() -> None:
    import struct

    from memmond.serve.logs import encode_entry

    entry = encode_entry({"MESSAGE": "two\nlines", "PRIORITY": "4", "MEMMOND_RULE": "é"})
    assert entry == (
        b"MESSAGE\n" + struct.pack("<Q", 9) + b"two\nlines\n" + b"PRIORITY=4\n" + "MEMMOND_RULE=é\n".encode()
    )


def test_rules_api_says_which_rules_fire_since_when_and_what_they_said(tmp_path: Path) -> None:
    import json

    config = tmp_path / "memmond.yaml"
    config.write_text(
        "interval: 100ms\nrules:\n"
        "  - {name: always, expr: mem_total > 0, severity: warning, labels: {team: infra},"
        " summary: 'total {{ mem_total | bytes }}'}\n"
        "  - {name: later, expr: mem_total > 0, for: 1h}\n"
        "  - {name: never, expr: mem_total < 0 + 1}\n"
    )
    with RunningDaemon("--config", str(config)) as daemon:
        daemon.wait_for(lambda: daemon.metrics()["memmond_samples_total"] >= 5, 5, "five samples")
        status, headers, body = daemon.get("/api/v1/rules")
    assert status == 200 and headers["content-type"] == "application/json"
    rules = {rule["name"]: rule for rule in json.loads(body)["rules"]}
    always, later, never = rules["always"], rules["later"], rules["never"]
    assert always["state"] == "firing" and always["severity"] == "warning" and always["labels"] == {"team": "infra"}
    assert always["summary"].startswith("total ") and always["summary"].endswith("GiB")
    assert 0.3 <= always["active_seconds"] < 5
    assert later["state"] == "pending" and later["summary"] == "" and later["active_seconds"] >= 0.3
    assert never["state"] == "inactive" and never["active_seconds"] is None
    assert rules["low_memory"]["origin"] == "builtin"


def test_a_full_history_of_a_quiet_host_holds_under_1200_bytes_a_sample_and_reads_as_before() -> None:
    """The history is most of what grows after start (1000 samples): measured with tracemalloc over 950
    samples in-process, on the fixture host (whose files do not change, like a quiet host's PSI). Each
    snapshot used to keep its derived values (800 bytes), an empty frozenset of its own (216 bytes) and
    its own PSI lines (0.4 KB) when they equalled the last: 3.8 KB a sample, 1 MB of a full history; then
    every meminfo and vmstat field of every sample (2.1 KB): 2.7 KB a sample, 26.6 MB RSS with the history
    full. Past the samples something reads whole (the rates' window, the flight recorder's minute), a
    sample keeps only the fields what reads old samples reads: the rules, the derived values, the trend
    API, the extremes; each of them must read an old sample as it read it whole."""
    import dataclasses
    import gc
    import tracemalloc

    from memmond import config as config_mod
    from memmond.model import trend
    from memmond.model.history import extreme_values
    from memmond.model.snapshot import OLD_SAMPLE_MEMINFO, Sampler, Snapshot
    from memmond.rules import ruleset
    from memmond.rules.engine import Engine, Rule
    from memmond.rules.expr import compile_expression
    from memmond.serve.daemon import Daemon, Overrides
    from memmond.sources.procfs import ProcFS

    class OneSecondApart(Sampler):
        """Samples as the loop takes them, a second apart, without waiting 17 minutes."""

        clock = 1000.0

        def capture(self) -> Snapshot:
            self.clock += 1.0
            return dataclasses.replace(super().capture(), monotonic=self.clock)

    cfg = config_mod.parse("cgroups: {enabled: false}\nsystem: {enabled: false}\n")
    procfs = ProcFS(CURRENT)
    daemon = Daemon(cfg, None, Overrides(), procfs, ruleset.load(cfg, procfs), kmsg_path=None, journal=None)
    daemon.sampler = OneSecondApart(procfs)
    for _ in range(50):
        daemon.sample_once()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(950):
            daemon.sample_once()
        gc.collect()
        held = (tracemalloc.get_traced_memory()[0] - before) / 950
    finally:
        tracemalloc.stop()
    assert len(daemon.history) == 1000
    assert held < 1200, f"{held:.0f} bytes a sample"
    samples = daemon.history.samples
    older, newer = samples[-2], samples[-1]
    assert newer.pressure is older.pressure and older._derived is None and newer.derived()
    # Whole: what the rates' window (60 s, its base included) and the recorder's minute before an event
    # may read; older: only the fields what reads old samples reads, with their values.
    recent = [snap for snap in samples if snap.monotonic >= newer.monotonic - 60]
    older_ones = list(samples)[: -len(recent)]
    assert len(recent) == 61 and len(older_ones) == 939
    every_field = set(newer.vmstat)
    assert all(set(snap.vmstat) == every_field for snap in recent)
    assert daemon._rate_base in recent
    vmstat_kept = daemon.ruleset.vmstat_fields() & every_field
    assert vmstat_kept >= {"pswpin", "pswpout", "oom_kill"}
    meminfo_kept = (OLD_SAMPLE_MEMINFO | daemon.ruleset.meminfo_fields()) & set(newer.meminfo)
    assert len(meminfo_kept) < len(newer.meminfo) // 2
    rule_series = {
        series for name in daemon.ruleset.vocabulary.series for series in [daemon.ruleset.vocabulary.series[name]]
    }
    read_by_rules = [s for s in rule_series if any(s.name in r.expr.names for r in daemon.ruleset.rules)]
    for snap in older_ones:  # the fixture's files never change: an old sample reads as the newest
        assert set(snap.vmstat) == vmstat_kept and set(snap.meminfo) == meminfo_kept
        assert snap.derived() == newer.derived() and extreme_values(snap) == extreme_values(newer)
        assert all(get(snap) == get(newer) for get in trend.SERIES.values())
        assert all(series.get(snap) == series.get(newer) for series in read_by_rules)
    # A reload's new windows are filled from the history: every sample still has what the rules read.
    fresh = Engine(daemon.ruleset.rules, daemon.ruleset.vocabulary)
    fresh.evaluate(samples, 1.0)
    vmstat_windows = [window for series, window in fresh._windows.items() if series.kind == "vmstat"]
    assert vmstat_windows and all(len(window.values) == len(samples) for window in vmstat_windows)
    # A reload adding a rule over a field no rule read before: the old samples lack it, so its 2-minute
    # window has no data until two minutes of samples carry it, rather than holding on the last minute.
    added = Rule("added", compile_expression("min_over(pgscan_kswapd, 2m) >= 0", daemon.ruleset.vocabulary))
    engine = Engine([*daemon.ruleset.rules, added], daemon.ruleset.vocabulary)
    engine.evaluate(samples, 1.0)
    assert engine.states["added"].nodata
    for _ in range(60):
        daemon.sample_once()
        engine.evaluate(daemon.history.samples, 1.0)
    assert not engine.states["added"].nodata and engine.states["added"].state == "firing"
