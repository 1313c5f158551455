"""Where an idle memmond's CPU goes: groups of daemons, each with one part switched off, measured in the
same window so that they share the machine's noise.

    .venv/bin/python benchmarks/parts.py [--per-group 8] [--seconds 60]

Every group runs --per-group daemons of one config, not scraped (sampling alone) but for one group of
baseline daemons scraped every 5 s as Prometheus scrapes (a new sample each time, OpenMetrics, gzip);
the figure is on-CPU time per daemon per second (schedstat). A part's cost is its group's difference from the baseline:
the "same data" config (no cgroup walk: the data node_exporter's meminfo, vmstat and pressure collectors
serve), which benchmarks/budget.py compares with node_exporter.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import free_port, stop, wait_http
from overhead import cpu_seconds

BASE = "cgroups: {enabled: false}\n"
GROUPS = {
    "same data (baseline)": BASE,
    "sampling every 5 s": BASE + "interval: 5s\n",
    "without the event recorder and PSI trigger": BASE + "events: {psi_triggers: [], record: false}\n",
    "without the built-in rules": BASE + "builtin_rules: {enabled: false}\n",
    "without the subsystems (system:)": BASE + "system: {enabled: false}\n",
    "all three off": BASE
    + "events: {psi_triggers: [], record: false}\nbuiltin_rules: {enabled: false}\nsystem: {enabled: false}\n",
    "default (with this host's cgroups)": "",
}
SCRAPED = "same data, scraped every 5 s"
GROUPS[SCRAPED] = BASE


def scrape_every(ports: list[int], seconds: float, stop_at: float) -> None:
    """What Prometheus asks of each target, every `seconds`, until `stop_at` (monotonic)."""
    import http.client

    headers = {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
    next_at = time.monotonic()
    while next_at < stop_at:
        for port in ports:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/metrics", headers=headers)
            conn.getresponse().read()
            conn.close()
        next_at += seconds
        time.sleep(max(0.0, next_at - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM")}
    groups: dict[str, list[tuple[subprocess.Popen, int]]] = {}
    try:
        for name, text in GROUPS.items():
            config = Path(tempfile.mkdtemp(prefix="memmond-parts-")) / "memmond.yaml"
            config.write_text(text)
            groups[name] = []
            for _ in range(args.per_group):
                port = free_port()
                argv = [sys.executable, "-m", "memmond", "run", "--listen", f"127.0.0.1:{port}", "--config",
                        str(config), "--journal", "none", "--log-target", "stderr"]  # fmt: skip
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                groups[name].append((proc, port))
        for members in groups.values():
            for _, port in members:
                wait_http(port, "/-/ready", 60)
        import threading

        scraper = threading.Thread(
            target=scrape_every,
            args=([port for _, port in groups[SCRAPED]], 5.0, time.monotonic() + 20 + args.seconds + 5),
            daemon=True,
        )
        scraper.start()
        time.sleep(20)  # start-up's work done, caches of the first samples gone
        before = {name: sum(cpu_seconds(p.pid) for p, _ in members) for name, members in groups.items()}
        started = time.monotonic()
        time.sleep(args.seconds)
        window = time.monotonic() - started
        per_daemon = {
            name: (sum(cpu_seconds(p.pid) for p, _ in members) - before[name]) / window / args.per_group
            for name, members in groups.items()
        }
    finally:
        for members in groups.values():
            for proc, _ in members:
                stop(proc)
    baseline = per_daemon["same data (baseline)"]
    print(f"{args.per_group} daemons a group, {window:.0f} s, on-CPU ms per daemon per second (schedstat)\n")
    for name, value in per_daemon.items():
        print(f"{name:<44}{value * 1e3:7.3f} ms/s   {(value - baseline) * 1e3:+7.3f} against the baseline")
    five = per_daemon["sampling every 5 s"]
    per_sample = (baseline - five) / 0.8
    print(f"\none sample, cold (from the 1 s and 5 s groups): {per_sample * 1e3:.3f} ms")
    per_scrape = (per_daemon[SCRAPED] - baseline) * 5
    print(f"one scrape, cold (from the scraped group): {per_scrape * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
