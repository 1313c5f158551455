"""What a fleet pays per host: memmond beside node_exporter 1.5, both scraped by one real Prometheus.

    .venv/bin/python benchmarks/budget.py [--instances 50] [--seconds 120] [--scrape-interval 5s] [--python PATH]

Starts N memmond (default config, 1 Hz) and N node_exporter (only its meminfo, vmstat and pressure
collectors: the same data) on loopback, and a Prometheus 2.x (Debian package) scraping all of them every
--scrape-interval. After a warm-up it measures, in the same run:

- series per target (Prometheus' scrape_samples_scraped),
- bytes of one exposition, plain and gzip,
- scrape duration as Prometheus measures it (scrape_duration_seconds: every scrape finds a new sample,
  with OpenMetrics and gzip as Prometheus asks; back-to-back scrapes of one sample would flatter memmond),
- summed CPU of the N processes over the window, from /proc/PID/schedstat (ns on CPU: /proc/PID/stat
  ticks overstate a mostly idle Python process), and summed RSS at the end.
Prints each figure for both and the ratio memmond / node_exporter.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from _harness import free_port, stop, wait_http
from overhead import cpu_seconds, rss_bytes

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMETHEUS = shutil.which("prometheus")


def start_node_exporter(port: int | None = None) -> tuple[subprocess.Popen, int]:
    assert NODE_EXPORTER, "install the Debian package prometheus-node-exporter"
    port = port or free_port()
    proc = subprocess.Popen(
        [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.meminfo",
            "--collector.vmstat",
            "--collector.pressure",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(port, "/metrics")
    return proc, port


# The files node_exporter's meminfo, vmstat and pressure collectors read, and nothing else.
SAME_DATA = "cgroups: {enabled: false}\nsystem: {enabled: false}\n"


def start_memmond_default(extra: list[str], python: str = sys.executable) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [python, "-m", "memmond", "run", "--listen", f"127.0.0.1:{port}", "--log-target", "stderr", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(port, "/-/ready")
    return proc, port


def start_prometheus(workdir: Path, targets: dict[str, list[int]], scrape_interval: str) -> subprocess.Popen:
    """A real Prometheus scraping each job's loopback ports every `scrape_interval`, ready when it returns;
    its port is in workdir / "port"."""
    assert PROMETHEUS, "install the Debian package prometheus"
    port = free_port()
    (workdir / "port").write_text(str(port))
    (workdir / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval},
                "scrape_configs": [
                    {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}]}
                    for job, ports in targets.items()
                ],
            }
        )
    )
    prometheus = subprocess.Popen(
        [PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_http(port, "/-/ready", 60)
    return prometheus


def cpu_windows(pids: dict[str, list[int]], seconds: float, count: int) -> list[dict[str, float]]:
    """On-CPU seconds per process per second of each group, over `count` consecutive windows (schedstat)."""
    windows = []
    for _ in range(max(1, count)):
        before = {name: sum(cpu_seconds(pid) for pid in members) for name, members in pids.items()}
        started = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        windows.append(
            {
                name: (sum(cpu_seconds(pid) for pid in members) - before[name]) / elapsed / len(members)
                for name, members in pids.items()
            }
        )
    return windows


def stop_all(groups: dict[str, list[tuple[subprocess.Popen, int]]]) -> None:
    for members in groups.values():
        for proc, _ in members:
            stop(proc)


def measure_groups(
    workdir: Path,
    groups: dict[str, list[tuple[subprocess.Popen, int]]],
    scraped: tuple[str, ...],
    scrape_interval: str,
    warm_up: float,
    seconds: float,
    count: int,
) -> list[dict[str, float]]:
    """A Prometheus scraping the `scraped` groups, a warm-up, then `count` CPU windows of every group
    (cpu_windows); every process is stopped at the end, whatever happens."""
    prometheus = None
    try:
        ports = {name: [port for _, port in groups[name]] for name in scraped}
        prometheus = start_prometheus(workdir, ports, scrape_interval)
        time.sleep(warm_up)
        pids = {name: [proc.pid for proc, _ in members] for name, members in groups.items()}
        return cpu_windows(pids, seconds, count)
    finally:
        if prometheus is not None:
            stop(prometheus)
        stop_all(groups)


def body_sizes(port: int) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    plain = conn.getresponse().read()
    conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    zipped = response.read()
    conn.close()
    if response.getheader("Content-Encoding") != "gzip":
        zipped = gzip.compress(plain)
    return len(plain), len(zipped)


def python_version(python: str) -> str:
    return subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip()


def query(prometheus_port: int, expr: str) -> dict[str, float]:
    url = f"http://127.0.0.1:{prometheus_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as response:
        doc = json.load(response)
    return {item["metric"].get("job", ""): float(item["value"][1]) for item in doc["data"]["result"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--scrape-interval", default="5s")
    parser.add_argument(
        "--no-cgroups",
        action="store_true",
        help="memmond without its cgroup walk (the subsystems beyond meminfo still read every 15 s)",
    )
    parser.add_argument(
        "--same-data",
        action="store_true",
        help="memmond without its cgroup walk and without the subsystems beyond meminfo (THP, KSM, zswap, ...): "
        "the files node_exporter's three collectors read, plus what memmond makes of them",
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=1,
        help="measure CPU over this many consecutive windows of --seconds and print each ratio and their median "
        "(a single window's ratio moves by several percent between runs)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter memmond runs under (with PyYAML and memmond importable), e.g. a venv made from the "
        "distribution's /usr/bin/python3, which the .deb and install.sh use",
    )
    args = parser.parse_args()
    assert PROMETHEUS, "install the Debian package prometheus"

    extra: list[str] = []
    if args.no_cgroups or args.same_data:
        config = Path(tempfile.mkdtemp(prefix="memmond-budget-config-")) / "memmond.yaml"
        config.write_text(SAME_DATA if args.same_data else "cgroups:\n  enabled: false\n")
        extra = ["--config", str(config)]
    memmonds = [start_memmond_default(extra, args.python) for _ in range(args.instances)]
    exporters = [start_node_exporter() for _ in range(args.instances)]
    workdir = Path(tempfile.mkdtemp(prefix="memmond-budget-"))
    targets = {"memmond": [port for _, port in memmonds], "node": [port for _, port in exporters]}
    prometheus = None
    try:
        prometheus = start_prometheus(workdir, targets, args.scrape_interval)
        prometheus_port = int((workdir / "port").read_text())
        time.sleep(15)  # warm-up: every target scraped a few times, imports and caches settled
        pids = {"memmond": [p.pid for p, _ in memmonds], "node": [p.pid for p, _ in exporters]}
        started = time.monotonic()
        windows = [
            {job: per_process * args.instances for job, per_process in window.items()}
            for window in cpu_windows(pids, args.seconds, args.windows)
        ]
        wall = time.monotonic() - started
        cpu = {job: sum(w[job] for w in windows) / len(windows) for job in pids}
        rss = {job: sum(rss_bytes(pid) for pid in job_pids) for job, job_pids in pids.items()}
        window = f"{int(args.seconds * len(windows))}s"
        series = query(prometheus_port, "avg by (job) (scrape_samples_scraped)")
        duration = query(
            prometheus_port, f"quantile by (job) (0.5, quantile_over_time(0.5, scrape_duration_seconds[{window}]))"
        )
        up = query(prometheus_port, "sum by (job) (up)")
        sizes = {"memmond": body_sizes(memmonds[0][1]), "node": body_sizes(exporters[0][1])}

        def row(what: str, memmond: float, node: float, unit: str, scale: float = 1.0) -> None:
            ratio = memmond / node if node else float("nan")
            print(
                f"{what:38} memmond {memmond * scale:10.3f} {unit:5}  node_exporter {node * scale:10.3f} {unit:5}  "
                f"ratio {ratio:5.2f}"
            )

        print(f"{args.instances} of each, scraped every {args.scrape_interval} by Prometheus, {wall:.0f} s measured")
        print(f"memmond under {args.python} ({python_version(args.python)})")
        print(f"targets up: memmond {up.get('memmond', 0):.0f}, node_exporter {up.get('node', 0):.0f}")
        row("series per target", series["memmond"], series["node"], "")
        row("bytes per scrape, plain", sizes["memmond"][0], sizes["node"][0], "KB", 1e-3)
        row("bytes per scrape, gzip", sizes["memmond"][1], sizes["node"][1], "KB", 1e-3)
        row("scrape duration p50 (Prometheus)", duration["memmond"], duration["node"], "ms", 1e3)
        row(f"CPU, {args.instances} processes summed", cpu["memmond"], cpu["node"], "% core", 100)
        if len(windows) > 1:
            ratios = sorted(w["memmond"] / w["node"] for w in windows if w["node"])
            each = ", ".join(f"{r:.2f}" for r in (w["memmond"] / w["node"] for w in windows if w["node"]))
            print(f"{'CPU ratio per window':38} {each}; median {ratios[len(ratios) // 2]:.2f}")
            per = "  ".join(f"{w['memmond'] * 100:.2f}/{w['node'] * 100:.2f}" for w in windows)
            print(f"{'CPU % core per window (memmond/node)':38} {per}")
        row(f"RSS, {args.instances} processes summed", rss["memmond"], rss["node"], "MB", 1e-6)
        row("RSS per process", rss["memmond"] / args.instances, rss["node"] / args.instances, "MB", 1e-6)
    finally:
        if prometheus is not None:
            stop(prometheus)
        for proc, _ in memmonds + exporters:
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
