"""The floor under memmond's CPU: what any Python process pays to wake at 1 Hz, read the three files and
parse them, beside memmond and node_exporter in the same windows.

    .venv/bin/python benchmarks/floor.py [--per-group 20] [--seconds 60] [--windows 3]

Groups, each --per-group processes: `wake` (an epoll wait of one second, nothing else), `read` (wake,
then pread /proc/meminfo, /proc/vmstat and /proc/pressure/memory, kept open), `parse` (wake, then
memmond's own Sampler.capture(): the reads and the parsers, no rules, no history), memmond itself (the
files node_exporter's meminfo, vmstat and pressure collectors read: budget.SAME_DATA) and
node_exporter 1.5; one Prometheus scrapes the last two every --scrape-interval. Prints on-CPU time
(schedstat) per process per second. Why: a target such as "2x node_exporter" is only reachable if the
floor leaves room for it; the difference between `parse` and memmond is what memmond's own design adds.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from budget import PROMETHEUS, SAME_DATA, measure_groups, start_memmond_default, start_node_exporter, stop_all

FILES = ("/proc/meminfo", "/proc/vmstat", "/proc/pressure/memory")


def floor_process(mode: str) -> None:
    """One floor process: wake every second (on the monotonic schedule memmond keeps), then `mode`."""
    fds = [os.open(path, os.O_RDONLY) for path in FILES]
    poller = select.epoll()
    capture = None
    if mode == "parse":
        from memmond.model.snapshot import Sampler

        capture = Sampler().capture
    due = time.monotonic() + 1.0
    while True:
        poller.poll(max(0.0, due - time.monotonic()))
        due += 1.0
        if mode == "read":
            for fd in fds:
                os.pread(fd, 65536, 0)
        elif capture is not None:
            capture()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--scrape-interval", default="5s")
    parser.add_argument("--as-floor", choices=("wake", "read", "parse"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_floor:
        floor_process(args.as_floor)
        return
    assert PROMETHEUS, "install the Debian package prometheus"
    workdir = Path(tempfile.mkdtemp(prefix="memmond-floor-"))
    config = workdir / "memmond.yaml"
    config.write_text(SAME_DATA)
    groups: dict[str, list[tuple[subprocess.Popen, int]]] = {"wake": [], "read": [], "parse": []}
    try:
        for _ in range(args.per_group):
            for mode in ("wake", "read", "parse"):
                argv = [sys.executable, __file__, "--as-floor", mode]
                groups[mode].append((subprocess.Popen(argv, stdout=subprocess.DEVNULL), 0))
        groups["memmond"] = [start_memmond_default(["--config", str(config)]) for _ in range(args.per_group)]
        groups["node_exporter"] = [start_node_exporter() for _ in range(args.per_group)]
    except BaseException:
        stop_all(groups)
        raise
    # a warm-up of 30 s: every target scraped a few times, imports done
    scraped = ("memmond", "node_exporter")
    windows = measure_groups(workdir, groups, scraped, args.scrape_interval, 30.0, args.seconds, args.windows)
    print(f"{args.per_group} processes a group, memmond and node_exporter scraped every {args.scrape_interval}")
    print("on-CPU ms per process per second (schedstat), by window, and the median:")
    names = list(groups)
    print(f"{'window':>6} " + " ".join(f"{name:>13}" for name in names))
    for number, window in enumerate(windows, 1):
        print(f"{number:>6} " + " ".join(f"{window[name] * 1e3:13.3f}" for name in names))
    median = {name: statistics.median(w[name] for w in windows) for name in names}
    print(f"{'median':>6} " + " ".join(f"{median[name] * 1e3:13.3f}" for name in names))
    node = median["node_exporter"]
    print(
        f"\nparse floor {median['parse'] / node:.2f}x node_exporter; memmond {median['memmond'] / node:.2f}x; "
        f"memmond above the floor {(median['memmond'] - median['parse']) * 1e3:.3f} ms/s "
        f"(2x node_exporter leaves {(2 * node - median['parse']) * 1e3:.3f} ms/s above the floor)"
    )


if __name__ == "__main__":
    main()
