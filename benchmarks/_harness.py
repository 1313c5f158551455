"""What the benchmark scripts share: starting memmond (and peers) on loopback, scraping, percentiles."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "INVOCATION_ID", "JOURNAL_STREAM")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nothing answered 200 on 127.0.0.1:{port}{path} within {timeout}s")


def start_memmond(
    interval: str = "1s", *extra: str, ready_path: str | None = "/-/ready"
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    config = Path(tempfile.mkdtemp(prefix="memmond-bench-")) / "memmond.yaml"
    config.write_text(f"interval: {interval}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "memmond", "run", "--listen", f"127.0.0.1:{port}", "--config", str(config), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM")},
    )
    if ready_path:
        wait_http(port, ready_path)
    else:
        time.sleep(2)  # TLS: the caller checks readiness itself
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
