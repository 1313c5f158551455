"""What a fleet pays per host, through the fleet path: N memmond and N node_exporter 1.5 (its meminfo,
vmstat and pressure collectors: the same data) scraped by one Prometheus 2.42 in agent mode every 15 s
and remote-written into VictoriaMetrics, all on loopback (Debian packages).

    .venv/bin/python benchmarks/fleet.py [--hosts 200] [--scrape-interval 15s] [--warmup 60] [--seconds 120]

After the warm-up it measures, for both exporters in the same run:
- series per host: what each scrape writes (the agent's scrape_samples_scraped, read back from the store),
- bytes of one exposition, plain and gzip (what Prometheus asks for),
- samples per second into the store per host: counted in the store over the window,
- CPU per host (schedstat over the window: ns on CPU; /proc/PID/stat ticks overstate a mostly idle Python
  process) and RSS per host at the end,
and for the path: the agent's and VictoriaMetrics' CPU and RSS for the whole fleet. It also starts one
memmond on a host with 50 services (a cgroup tree built from the v2 fixture) for the series budget "with
50 cgroups", and prints the projection to 1,000 hosts with its arithmetic.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from budget import body_sizes, start_node_exporter  # noqa: E402
from cgroup_trees import many_services  # noqa: E402
from fleetstack import Host, Stack, free_port, http_get, missing_programs, wait  # noqa: E402
from overhead import cpu_seconds, rss_bytes  # noqa: E402

MB = 1e6


def series_on(host: Host) -> int:
    text = http_get(f"http://{host.target}/metrics").decode()
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--scrape-interval", default="15s")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=120.0, help="the measured window")
    args = parser.parse_args()
    missing = missing_programs()
    assert not missing, f"install the Debian packages: {missing}"
    interval = float(args.scrape_interval.removesuffix("s"))

    workdir = Path(tempfile.mkdtemp(prefix="memmond-fleet-"))
    stack = Stack(workdir, scrape_interval=args.scrape_interval)
    exporters = []
    try:
        config = workdir / "memmond.yaml"
        config.write_text("interval: 1s\n")
        print(f"starting {args.hosts} memmond and {args.hosts} node_exporter ...", file=sys.stderr)
        stack.start_hosts(
            [(f"host-{i:04d}", ("--config", str(config), "--journal", "none")) for i in range(args.hosts)],
            timeout=60 + args.hosts,
        )
        exporters = [start_node_exporter(free_port()) for _ in range(args.hosts)]
        stack.start_store()
        stack.start_agent(extra_jobs={"node": [f"127.0.0.1:{port}" for _, port in exporters]})
        wait(
            "every target in the store",
            lambda: len(stack.query("up == 1")) == 2 * args.hosts,
            60 + 3 * interval,
            list(stack.procs.values()),
        )
        # one more memmond, outside the fleet, on a host with 50 services: the series budget with cgroups
        services = many_services(workdir / "cgroupfs", 50)
        busy = Host("host-50-services", ("--config", str(config), "--cgroupfs", str(services), "--journal", "none"),
                    workdir)  # fmt: skip
        busy.start()
        wait("the 50-service host", busy.ready, 30)

        print(f"warming up {args.warmup:.0f} s, then measuring {args.seconds:.0f} s ...", file=sys.stderr)
        time.sleep(args.warmup)
        groups = {
            "memmond": [h.proc.pid for h in stack.hosts if h.proc],
            "node_exporter": [proc.pid for proc, _ in exporters],
            "agent": [stack.procs["prometheus-agent"].pid],
            "victoria-metrics": [stack.procs["victoria-metrics"].pid],
        }
        before = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
        started = time.monotonic()
        time.sleep(args.seconds)
        window = time.monotonic() - started
        cpu = {name: (sum(cpu_seconds(pid) for pid in pids) - before[name]) / window for name, pids in groups.items()}
        rss = {name: sum(rss_bytes(pid) for pid in pids) for name, pids in groups.items()}
        jobs = {"memmond": "memmond", "node_exporter": "node"}
        series = {
            name: statistics.mean(float(r["value"][1]) for r in stack.query(f'scrape_samples_scraped{{job="{job}"}}'))
            for name, job in jobs.items()
        }
        stored = {
            name: sum(
                float(r["value"][1])
                for r in stack.query(f'count_over_time({{job="{job}"}}[{int(window)}s]) keep_metric_names')
            )
            / args.hosts
            / int(window)
            for name, job in jobs.items()
        }
        sizes = {"memmond": body_sizes(stack.hosts[0].port), "node_exporter": body_sizes(exporters[0][1])}
        busy_series, busy_sizes = series_on(busy), body_sizes(busy.port)
        busy.stop()
    finally:
        stack.close()
        for proc, _ in exporters:
            proc.terminate()
        for proc, _ in exporters:
            proc.wait(10)

    n = args.hosts
    print(f"\n{n} hosts of each, scraped every {args.scrape_interval} by a Prometheus agent, into VictoriaMetrics;")
    print(f"measured over {window:.0f} s after {args.warmup:.0f} s of warm-up\n")
    print(f"{'per host':<34}{'memmond':>14}{'node_exporter':>16}{'ratio':>8}")

    def row(label: str, mine: float, theirs: float, fmt: str) -> None:
        print(f"{label:<34}{fmt.format(mine):>14}{fmt.format(theirs):>16}{mine / theirs:>8.2f}")

    row("series per scrape", series["memmond"], series["node_exporter"], "{:.0f}")
    row("bytes per scrape, plain", sizes["memmond"][0], sizes["node_exporter"][0], "{:,.0f}")
    row("bytes per scrape, gzip", sizes["memmond"][1], sizes["node_exporter"][1], "{:,.0f}")
    row("samples/s into the store", stored["memmond"], stored["node_exporter"], "{:.2f}")
    row("CPU, % of one core", cpu["memmond"] / n * 100, cpu["node_exporter"] / n * 100, "{:.3f}")
    row("RSS, MB", rss["memmond"] / n / MB, rss["node_exporter"] / n / MB, "{:.1f}")
    print(
        f"\nmemmond on a host with 50 services: {busy_series} series, {busy_sizes[0]:,} bytes plain, "
        f"{busy_sizes[1]:,} gzip (budget: 1,000 series)"
    )
    print(f"\nthe path for {n} + {n} targets:")
    for name in ("agent", "victoria-metrics"):
        print(f"  {name:<18} {cpu[name] * 100:6.2f} % of one core, RSS {rss[name] / MB:7.1f} MB")

    print("\nprojection to 1,000 hosts running memmond (series and samples scale with hosts):")
    for label, per_host in (("this host's cgroups", series["memmond"]), ("50 services each", busy_series)):
        active = per_host * 1000
        rate = per_host / interval * 1000
        print(
            f"  {label:<20} active series {per_host:.0f} x 1,000 = {active:,.0f}; "
            f"ingest {per_host:.0f} / {interval:.0f} s x 1,000 = {rate:,.0f} samples/s"
        )
    print(f"  measured here: {stored['memmond']:.2f} samples/s per host into the store (the arithmetic: "
          f"{series['memmond'] / interval:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
