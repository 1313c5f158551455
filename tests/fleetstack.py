"""The fleet path on loopback, from real programs (Debian packages): memmond hosts → a Prometheus in
agent mode (scrape, remote_write) → VictoriaMetrics (single node: the remote-write protocol its cluster
version, Mimir and Thanos take) ← vmalert (the alert rules, evaluated centrally) → Alertmanager.

Used by tests/fleet/test_fleet.py and benchmarks/fleet.py (`wait` by the other tests with real peers too);
every process is stopped by `close()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS = shutil.which("prometheus")
VICTORIA_METRICS = shutil.which("victoria-metrics")
VMALERT = shutil.which("vmalert")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
_SYSTEMD_VARIABLES = ("MEMMOND_PROCFS", "NOTIFY_SOCKET", "WATCHDOG_USEC", "INVOCATION_ID", "JOURNAL_STREAM")


def missing_programs() -> list[str]:
    wanted = {"prometheus": PROMETHEUS, "victoria-metrics": VICTORIA_METRICS, "vmalert": VMALERT,
              "prometheus-alertmanager": ALERTMANAGER}  # fmt: skip
    return [name for name, path in wanted.items() if not path]


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on, and not one handed out before: the kernel may offer a released
    port again before the process it went to has bound it (seen with 200 hosts started at once)."""
    import socket

    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def stop_process(proc: subprocess.Popen, timeout: float) -> int:
    """SIGTERM, then SIGKILL after `timeout` seconds; the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def http_get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def wait(what: str, check: Callable[[], Any], timeout: float, procs: Sequence[subprocess.Popen] = ()) -> Any:
    """Polls `check` until it returns something true; fails naming what and the last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        for proc in procs:
            assert proc.poll() is None, f"{proc.args[0]} exited with {proc.returncode} waiting for {what}"
        try:
            last = check()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last answer: {last!r}")


class Host:
    """One memmond: a host of the fleet, with the `host` label the agent gives its target."""

    def __init__(self, label: str, args: Sequence[str], workdir: Path) -> None:
        self.label, self.args, self.port = label, list(args), free_port()
        self.log = workdir / f"memmond-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _SYSTEMD_VARIABLES}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "memmond", "run", "--listen", self.target, "--log-target", "stderr", *self.args],
                stdout=subprocess.DEVNULL, stderr=log, env=env,
            )  # fmt: skip

    def ready(self) -> bool:
        try:
            return http_get(f"http://{self.target}/-/ready", timeout=2) is not None
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)


class Stack:
    """Start the parts in any order (the store may come after the agent: the agent buffers)."""

    def __init__(self, workdir: Path, scrape_interval: str = "1s", evaluation_interval: str = "1s") -> None:
        self.workdir = workdir
        self.scrape_interval, self.evaluation_interval = scrape_interval, evaluation_interval
        self.procs: dict[str, subprocess.Popen] = {}
        self.hosts: list[Host] = []
        self.vm_port, self.agent_port, self.vmalert_port, self.am_port = (free_port() for _ in range(4))

    # -- the parts ---------------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process below)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        self.procs[name] = proc
        return proc

    def start_hosts(self, hosts: Sequence[tuple[str, Sequence[str]]], timeout: float = 60) -> None:
        """All at once, then wait for each: twenty Python start-ups one after another take 20 s."""
        for label, args in hosts:
            host = Host(label, args, self.workdir)
            host.start()
            self.hosts.append(host)
        procs = [h.proc for h in self.hosts if h.proc is not None]
        wait("every memmond ready", lambda: all(h.ready() for h in self.hosts), timeout, procs)

    def start_store(self) -> None:
        assert VICTORIA_METRICS
        self._spawn("victoria-metrics", [
            VICTORIA_METRICS, f"-storageDataPath={self.workdir / 'vm-data'}",
            f"-httpListenAddr=127.0.0.1:{self.vm_port}", "-retentionPeriod=1d",
            # answer with what has arrived, now: the defaults hide the last 30 s from range queries
            "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN",
        ])  # fmt: skip
        wait("VictoriaMetrics healthy", lambda: http_get(f"{self.store_url}/health") == b"OK", 30,
             [self.procs["victoria-metrics"]])  # fmt: skip

    def start_agent(self, extra_jobs: dict[str, list[str]] | None = None) -> None:
        """Scrapes the hosts as job memmond, and `extra_jobs` (name -> targets) beside them."""
        assert PROMETHEUS
        config = {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval},
            "scrape_configs": [
                {
                    "job_name": "memmond",
                    # one static config per target: its own host label, as file_sd or a CMDB would give
                    "static_configs": [{"targets": [h.target], "labels": {"host": h.label}} for h in self.hosts],
                },
                *(
                    {"job_name": job, "static_configs": [{"targets": targets}]}
                    for job, targets in (extra_jobs or {}).items()
                ),
            ],
            "remote_write": [
                {
                    "url": f"{self.store_url}/api/v1/write",
                    # retry fast after an outage (the defaults back off to 5 s)
                    "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"},
                }
            ],
        }
        (self.workdir / "agent.yml").write_text(yaml.safe_dump(config))
        self._spawn("prometheus-agent", [
            PROMETHEUS, "--enable-feature=agent", f"--config.file={self.workdir / 'agent.yml'}",
            f"--storage.agent.path={self.workdir / 'agent-wal'}",
            f"--web.listen-address=127.0.0.1:{self.agent_port}",
        ])  # fmt: skip
        wait("the agent ready", lambda: http_get(f"http://127.0.0.1:{self.agent_port}/-/ready"), 30,
             [self.procs["prometheus-agent"]])  # fmt: skip

    def start_alerting(self, rules: Path) -> None:
        """Alertmanager, and vmalert evaluating `rules` against the store, writing ALERTS back into it."""
        assert ALERTMANAGER and VMALERT
        route = {"receiver": "nowhere", "group_wait": "1s", "group_interval": "1s", "group_by": ["alertname"]}
        (self.workdir / "alertmanager.yml").write_text(
            yaml.safe_dump({"route": route, "receivers": [{"name": "nowhere"}]})
        )
        self._spawn("alertmanager", [
            ALERTMANAGER, f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'am'}", f"--web.listen-address=127.0.0.1:{self.am_port}",
            "--cluster.listen-address=",
        ])  # fmt: skip
        wait("Alertmanager ready", lambda: http_get(f"http://127.0.0.1:{self.am_port}/-/ready"), 30,
             [self.procs["alertmanager"]])  # fmt: skip
        self._spawn("vmalert", [
            VMALERT, f"-rule={rules}", f"-datasource.url={self.store_url}",
            f"-remoteWrite.url={self.store_url}", f"-notifier.url=http://127.0.0.1:{self.am_port}",
            f"-evaluationInterval={self.evaluation_interval}", f"-httpListenAddr=127.0.0.1:{self.vmalert_port}",
            "-loggerLevel=WARN",
        ])  # fmt: skip
        wait("vmalert ready", lambda: http_get(f"http://127.0.0.1:{self.vmalert_port}/-/healthy"), 30,
             [self.procs["vmalert"]])  # fmt: skip

    def stop(self, name: str) -> None:
        stop_process(self.procs.pop(name), 15)

    def close(self) -> None:
        for host in self.hosts:
            host.stop()
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(name)

    # -- the store's PromQL API --------------------------------------------------------------------------

    @property
    def store_url(self) -> str:
        return f"http://127.0.0.1:{self.vm_port}"

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        try:
            doc = json.loads(http_get(f"{self.store_url}/api/v1/query?" + urllib.parse.urlencode(params), timeout=30))
        except urllib.error.HTTPError as exc:  # the store's explanation, not just "422"
            raise AssertionError(f"{expr}: {exc.code} {exc.read().decode(errors='replace')}") from None
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return json.loads(http_get(f"http://127.0.0.1:{self.am_port}/api/v2/alerts"))

    def logs(self) -> str:
        """The peers' logs, for a failure message."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in self.workdir.glob("*.log"))
