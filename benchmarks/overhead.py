"""The daemon's own cost: CPU share of one core and RSS, at 1 Hz and 10 Hz sampling.

    .venv/bin/python benchmarks/overhead.py [--seconds 60] [--scrape-every 15]

CPU is the on-CPU time from /proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat counts 10 ms ticks,
too coarse for 0.1 %) over the measured window after a warm-up, divided by the window's wall time.
RSS is VmRSS from /proc/PID/status at the end. A scraper fetches /metrics every --scrape-every seconds,
as Prometheus would, so rendering is part of the cost.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import time
from pathlib import Path

from _harness import start_memmond, stop


def cpu_seconds(pid: int) -> float:
    """On-CPU time of all the process's threads, summed from each task's schedstat (ns)."""
    total_ns = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
            total_ns += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return total_ns / 1e9


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def scrape(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    conn.getresponse().read()
    conn.close()


def run(interval: str, seconds: float, scrape_every: float) -> tuple[float, int]:
    proc, port = start_memmond(interval)
    try:
        time.sleep(2)  # warm-up: imports done, first renders cached
        start_cpu, start_wall = cpu_seconds(proc.pid), time.monotonic()
        next_scrape = start_wall
        while (now := time.monotonic()) - start_wall < seconds:
            if now >= next_scrape:
                scrape(port)
                next_scrape += scrape_every
            time.sleep(min(0.5, max(0.0, next_scrape - time.monotonic())))
        share = (cpu_seconds(proc.pid) - start_cpu) / (time.monotonic() - start_wall)
        return share, rss_bytes(proc.pid)
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--scrape-every", type=float, default=15.0)
    args = parser.parse_args()
    for interval, target in (("1s", 0.001), ("100ms", 0.01)):
        share, rss = run(interval, args.seconds, args.scrape_every)
        print(
            f"interval {interval:>5}: CPU {share * 100:6.3f} % of a core (target <= {target * 100:g} %), "
            f"RSS {rss / 1e6:5.1f} MB (target <= 25 MB) over {args.seconds:g} s, "
            f"scrape every {args.scrape_every:g} s"
        )


if __name__ == "__main__":
    main()
