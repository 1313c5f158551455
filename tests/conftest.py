"""Shared test helpers: fixture trees and running the real `memmond` program as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fleetstack import free_port, stop_process  # the one port picker: never the same port twice in a run

FIXTURES = Path(__file__).parent / "fixtures"
CURRENT = FIXTURES / "linux-6.18-x86_64"
PRESSURE = FIXTURES / "linux-6.18-x86_64-pressure"
OLD_3_10 = FIXTURES / "linux-3.10-x86_64"
OLD_4_19 = FIXTURES / "linux-4.19-arm64"
ALL_TREES = (CURRENT, PRESSURE, OLD_3_10, OLD_4_19)


def fixture_pid(tree: Path) -> int:
    """The captured process of a fixture tree (its only numeric folder)."""
    (pid,) = [int(p.name) for p in tree.iterdir() if p.name.isdigit()]
    return pid


def run_memmond(
    *args: str, timeout: float = 30, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run the installed program exactly as a user would (python -m memmond == console script)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MEMMOND_PROCFS"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "memmond", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
    )


@pytest.fixture(params=ALL_TREES, ids=lambda p: p.name)
def tree(request: pytest.FixtureRequest) -> Path:
    return request.param


def evict(path: Path) -> None:
    """Drop a file's pages from the page cache: write back its dirty pages first (DONTNEED keeps dirty
    ones), then posix_fadvise(DONTNEED). No root needed; other files are untouched."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class RunningDaemon:
    """`memmond run` as a subprocess on a free loopback port; waits (bounded) until /-/ready answers 200
    and always stops it on exit. stderr goes to a file so a chatty daemon cannot block on a full pipe."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        tmp: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        import tempfile
        import weakref

        self.port = free_port()
        self.args = ["run", "--listen", f"127.0.0.1:{self.port}", *args]
        self.env = env
        self.wait_ready = wait_ready
        self.cwd = cwd
        self._stderr_fd, self._stderr_path = tempfile.mkstemp(prefix="memmond-stderr-", dir=tmp)
        weakref.finalize(self, os.unlink, self._stderr_path)
        self.proc: subprocess.Popen | None = None

    @classmethod
    def attach(cls, proc: subprocess.Popen, port: int) -> RunningDaemon:
        """Wrap a daemon the test started itself (as another user, say) to use the helpers."""
        daemon = cls.__new__(cls)
        daemon.port, daemon.proc = port, proc
        daemon._stderr_path = os.devnull
        return daemon

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RunningDaemon:
        full_env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("MEMMOND_PROCFS", "NOTIFY_SOCKET", "WATCHDOG_USEC", "INVOCATION_ID", "JOURNAL_STREAM")
        }
        full_env.update(self.env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memmond", *self.args],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr_fd,
            cwd=self.cwd,
        )
        os.close(self._stderr_fd)  # the child has its own copy
        if self.wait_ready:
            self.wait_for(lambda: self.get("/-/ready")[0] == 200, timeout=10, what="/-/ready 200")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 5) -> int:
        assert self.proc is not None
        return stop_process(self.proc, timeout)

    def stderr(self) -> str:
        return Path(self._stderr_path).read_text(errors="replace")

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
    ) -> tuple[int, dict[str, str], bytes]:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except OSError:
            return 0, {}, b""
        finally:
            conn.close()

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics as 'name{label="v",...}' -> value, via prometheus-client's parser."""
        from prometheus_client.parser import text_string_to_metric_families

        status, _, body = self.get("/metrics")
        assert status == 200, status
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out

    def wait_for(self, condition, timeout: float, what: str) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"memmond exited with {self.proc.returncode} waiting for {what}:\n{self.stderr()}")
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; stderr:\n{self.stderr()}")
