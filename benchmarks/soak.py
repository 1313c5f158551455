"""Soak: 10 Hz sampling for a while with a scrape every second; resources at the start and the end.

    .venv/bin/python benchmarks/soak.py [--seconds 600] [--warmup 30]

Prints RSS, open file descriptors and threads after the warm-up and at the end (target: no growth
after warm-up) and the number of samples taken. The history fills at 100 s (1000 samples at 10 Hz), so
runs much longer than --warmup + 100 s show the steady state.
"""

from __future__ import annotations

import argparse
import http.client
import os
import time
from pathlib import Path

from _harness import start_memmond, stop


def resources(pid: int) -> tuple[int, int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def scrape(port: int) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read()
    conn.close()
    return body


def samples(body: bytes) -> int:
    for line in body.decode().splitlines():
        if line.startswith("memmond_samples_total "):
            return int(float(line.split()[1]))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    args = parser.parse_args()
    proc, port = start_memmond("100ms")
    try:
        started = time.monotonic()
        while time.monotonic() - started < args.warmup:
            scrape(port)
            time.sleep(1)
        first = resources(proc.pid)
        first_samples = samples(scrape(port))
        while time.monotonic() - started < args.warmup + args.seconds:
            scrape(port)
            time.sleep(1)
        last = resources(proc.pid)
        taken = samples(scrape(port)) - first_samples
    finally:
        stop(proc)
    print(
        f"soak at 10 Hz for {args.seconds:g} s after {args.warmup:g} s warm-up, scraped every second: {taken} samples"
    )
    for name, a, b in zip(("RSS bytes", "open fds", "threads"), first, last, strict=True):
        print(f"  {name:10} start {a:>12,}  end {b:>12,}  change {b - a:+,}")


if __name__ == "__main__":
    main()
