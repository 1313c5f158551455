"""memmond under a real systemd as PID 1: a Debian bookworm container booted with systemd-nspawn,
memmond installed with packaging/install.sh and run by the shipped unit.

Run alone with `pytest -m systemd`. Needs root, systemd-nspawn (systemd-container) and debootstrap; the
container's root file system is built once (about a minute) and kept in /var/cache/memmond-test.
The container shares the host's network, so its memmond is scraped from here on a free loopback port.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

pytestmark = pytest.mark.systemd

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/var/cache/memmond-test")
ROOTFS = CACHE / "bookworm-root"
# procps: /bin/kill, which the unit's ExecReload uses (minbase leaves it out; every normal install has it).
# The python3-* libraries are the .deb's dependencies: installed here, `apt-get install ./memmond.deb`
# needs no network inside the container (python3-cffi-backend: debootstrap does not resolve the virtual
# package python3-bcrypt depends on).
PACKAGES = ",".join(
    (
        "systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "procps",
        "python3-yaml", "python3-systemd", "python3-bcrypt", "python3-cffi-backend", "python3-rich",
    )
)  # fmt: skip


def _require() -> None:
    if os.geteuid() != 0:
        pytest.skip("booting a container with systemd-nspawn needs root")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (packaging/dev-setup.sh --test installs it)")


def _rootfs() -> Path:
    """The bookworm root file system, built once; a lock keeps two test runs from building it together."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = ROOTFS / ".memmond-complete"
        if not marker.exists() or marker.read_text() != PACKAGES:  # built with another package list: rebuild
            shutil.rmtree(ROOTFS, ignore_errors=True)
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={PACKAGES}",
                    "bookworm",
                    str(ROOTFS),
                    "http://deb.debian.org/debian",
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )
            marker.write_text(PACKAGES)
    return ROOTFS


class Container:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", str(root), "--register=no", "--keep-unit", "--console=pipe", "-b"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.init_pid = 0

    def _init(self) -> int:
        """The container's PID 1 seen from here: nspawn's first child may be its short-lived outer child (it
        forks the real init and exits), so only a child that is PID 1 in its own namespace counts."""
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        for pid in children.split():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(nspid) > 1 and nspid[-1] == "1":
                return int(pid)
        return 0

    def boot(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.init_pid:
            assert self.proc.poll() is None, "systemd-nspawn exited during boot"
            self.init_pid = self._init()
            time.sleep(0.2)
        assert self.init_pid, "no init process in the container"
        states: list[str] = []

        def running() -> bool:
            states.append(self.sh("systemctl is-system-running").stdout.strip())
            return states[-1] in ("running", "degraded")

        try:
            self.wait("systemd running", running, 120)
        except AssertionError as timeout:
            jobs = self.sh("systemctl list-jobs --no-pager").stdout
            raise AssertionError(f"{timeout}\nlast state: {states[-1:]}\njobs:\n{jobs}") from None

    def sh(self, command: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        """A shell command inside the container, with systemd's environment (not the host's)."""
        result = subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.init_pid),
                "-a",
                "/usr/bin/env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "/bin/bash",
                "-c",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        return result

    def wait(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.3)
        journal = self.sh("journalctl -u memmond --no-pager -n 40").stdout if self.init_pid else ""
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{journal}")

    def show(self, *properties: str) -> dict[str, str]:
        out = self.sh(f"systemctl show memmond -p {','.join(properties)}").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def stop(self) -> None:
        """Power the container off; if that cannot be asked from inside, SIGTERM makes nspawn do it. A killed
        nspawn would leave the container's init running and the tree busy for the next boot."""
        if self.proc.poll() is None and (
            not self.init_pid or self.sh("systemctl poweroff", timeout=30).returncode != 0
        ):
            self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            if self.init_pid:
                subprocess.run(["kill", "-KILL", str(self.init_pid)], check=False)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    _require()
    root = _rootfs()
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", str(ROOT), "-w", str(wheels)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    source = root / "root" / "memmond-src"
    shutil.rmtree(source, ignore_errors=True)
    for part in ("packaging", "config", "grafana"):
        shutil.copytree(ROOT / part, source / part)
    subprocess.run(  # the .deb, built as a packager would
        ["bash", str(ROOT / "packaging" / "debian" / "build-deb.sh"), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHON": sys.executable},
    )
    shutil.copy(ROOT / "README.md", source / "README.md")
    shutil.copytree(wheels, source / "wheels")
    # The cached tree keeps what the last run installed and enabled: remove it before booting, or the old
    # memmond starts at boot with the old config and `enable --now` leaves it running.
    for leftover in (
        "opt/memmond",
        "etc/memmond",
        "etc/systemd/system/memmond.service",
        "etc/systemd/system/memmond.service.d",
        "etc/systemd/system/multi-user.target.wants/memmond.service",
    ):
        path = root / leftover
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_symlink() or path.exists():
            path.unlink()
    box = Container(root)
    try:
        box.boot()
        box.sh("dpkg --purge memmond >/dev/null 2>&1; true")  # the package a previous run left in the cached tree
        box.sh("/root/memmond-src/packaging/install.sh --wheels /root/memmond-src/wheels", check=True)
        yield box
    finally:
        box.stop()


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _scraped(port: int) -> bool:
    try:
        return "memmond_build_info" in _metrics(port)
    except OSError:
        return False


def _metric(port: int, name: str) -> float | None:
    for line in _metrics(port).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_the_unit_runs_memmond_under_systemd(container: Container) -> None:
    port = free_port()
    container.sh(
        f"sed -i 's/^listen: .*/listen: \"127.0.0.1:{port}\"/; s/^interval: .*/interval: 500ms/' "
        "/etc/memmond/memmond.yaml",
        check=True,
    )
    container.sh("systemctl enable --now memmond", check=True)
    state = container.wait(
        "memmond active",
        lambda: (s := container.show("ActiveState", "SubState", "Type", "StatusText"))["ActiveState"] == "active" and s,
        30,
    )
    assert state["Type"] == "notify" and state["SubState"] == "running"  # active only after READY=1
    assert state["StatusText"].startswith("pressure low; available ")

    container.wait(f"/metrics on 127.0.0.1:{port}", lambda: _scraped(port), 15)
    assert _metric(port, "memmond_sample_interval_seconds") == 0.5
    # `memmond` on a login shell's PATH, as the README writes its commands; the short view finds the daemon
    login = container.sh(f"bash -lc 'command -v memmond && memmond show --short --url 127.0.0.1:{port}'", check=True)
    assert login.stdout.startswith("/usr/local/bin/memmond\n") and "Rules      none firing" in login.stdout
    # no CAP_SYSLOG for /dev/kmsg, but the systemd-journal group: OOM victims from the journal
    assert _metric(port, "memmond_oom_victims_readable") == 1

    entries = [
        json.loads(line) for line in container.sh("journalctl -u memmond -o json --no-pager").stdout.splitlines()
    ]
    started = [e for e in entries if e.get("MEMMOND_EVENT") == "started"]
    assert started and started[-1]["_SYSTEMD_UNIT"] == "memmond.service"
    assert started[-1]["SYSLOG_IDENTIFIER"] == "memmond" and started[-1]["MESSAGE_ID"]

    container.sh(
        "sed -i 's/^interval: .*/interval: 250ms/' /etc/memmond/memmond.yaml && systemctl reload memmond", check=True
    )
    container.wait("the reloaded interval", lambda: _metric(port, "memmond_sample_interval_seconds") == 0.25, 15)
    reloaded = container.sh("journalctl -u memmond -o json --no-pager MEMMOND_EVENT=reloaded").stdout
    assert reloaded.strip(), "no reloaded event in the journal"
    assert container.show("ActiveState")["ActiveState"] == "active"

    # A memory event (a rule with record: true) is recorded in the unit's StateDirectory and outlives a restart.
    container.sh(
        "sed -i 's/^rules: \\[\\]/rules: [{name: always, expr: mem_total > 0, record: true}]/; "
        "s/^  fast_duration: 10s/  fast_duration: 1s/' /etc/memmond/memmond.yaml && systemctl reload memmond",
        check=True,
    )

    def events() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/events", timeout=5) as response:
            return json.loads(response.read())

    container.wait("an event record", lambda: events()["events"], 20)
    listed = events()
    assert listed["persisted"] is True and listed["directory"] == "/var/lib/memmond", listed
    recorded = [e["id"] for e in listed["events"]]
    assert container.sh(f"test -s /var/lib/memmond/{recorded[0]}.json").returncode == 0
    journal = container.sh("journalctl -u memmond -o json --no-pager MEMMOND_EVENT=memory_event").stdout
    assert f'"MEMMOND_EVENT_ID":"{recorded[0]}"' in journal
    container.sh("systemctl restart memmond", check=True)
    container.wait("memmond active again", lambda: container.show("ActiveState")["ActiveState"] == "active", 30)
    container.wait("/metrics after the restart", lambda: _scraped(port), 15)
    assert set(recorded) <= {e["id"] for e in events()["events"]}


def test_a_stalled_sampling_loop_is_restarted_by_the_watchdog(container: Container) -> None:
    container.sh(
        "mkdir -p /etc/systemd/system/memmond.service.d && printf '[Service]\\nWatchdogSec=2s\\n"
        "Environment=MEMMOND_DEBUG_STALL_AFTER_SAMPLES=4\\n' > /etc/systemd/system/memmond.service.d/"
        "stall.conf && systemctl daemon-reload && systemctl restart memmond",
        check=True,
    )
    try:
        container.wait("a watchdog restart", lambda: int(container.show("NRestarts")["NRestarts"] or 0) >= 1, 60)
        journal = container.sh("journalctl -u memmond --no-pager").stdout
        assert "Watchdog timeout" in journal
        assert "sampling loop stalls now" in journal
        assert "Failed with result 'watchdog'" in journal
    finally:
        container.sh(
            "rm -rf /etc/systemd/system/memmond.service.d && systemctl daemon-reload && systemctl restart memmond"
        )


def test_the_debian_package_installs_runs_keeps_an_edited_config_and_purges(container: Container) -> None:
    """The .deb on Debian's own Python packages: no compiler, no virtualenv; Type=notify under its unit."""
    container.sh("/root/memmond-src/packaging/install.sh --uninstall && rm -rf /etc/memmond", check=True)
    install = "DEBIAN_FRONTEND=noninteractive apt-get install -y /root/memmond-src/memmond_*_all.deb"
    container.sh(install, check=True)
    assert container.sh("dpkg -s memmond | grep -q '^Status: install ok installed'").returncode == 0
    assert container.sh("command -v gcc cc").returncode != 0  # nothing was compiled
    state = container.wait(
        "memmond active from the package",
        lambda: (
            (s := container.show("ActiveState", "SubState", "Type", "FragmentPath"))["ActiveState"] == "active" and s
        ),
        30,
    )
    assert state["Type"] == "notify" and state["FragmentPath"] == "/lib/systemd/system/memmond.service"
    port = free_port()
    container.sh(f"sed -i 's/^listen: .*/listen: \"127.0.0.1:{port}\"/' /etc/memmond/memmond.yaml", check=True)
    container.sh("systemctl restart memmond", check=True)

    container.wait(f"/metrics on 127.0.0.1:{port}", lambda: _scraped(port), 20)
    assert container.sh("man -w memmond || test -s /usr/share/man/man1/memmond.1.gz").returncode == 0
    assert "check-config" in container.sh("memmond --help").stdout  # /usr/bin/memmond on Debian's python3

    # a reinstall keeps the edited config (a conffile), and the service keeps serving on the edited port
    container.sh(install.replace("install -y", "install -y --reinstall"), check=True)
    assert f"127.0.0.1:{port}" in container.sh("cat /etc/memmond/memmond.yaml").stdout
    container.wait(f"/metrics on 127.0.0.1:{port} after the reinstall", lambda: _scraped(port), 20)

    container.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y memmond", check=True)
    gone = container.sh("ls /usr/bin/memmond /lib/systemd/system/memmond.service /etc/memmond 2>&1; true").stdout
    assert gone.count("No such file") == 3, gone
    assert container.show("LoadState")["LoadState"] == "not-found"
