"""/metrics latency at 1 and 50 concurrent clients, and against node_exporter when it is installed.

    .venv/bin/python benchmarks/scrape.py [--seconds 10]

Each client keeps one connection open and scrapes in a loop, as Prometheus does. node_exporter (Debian
package prometheus-node-exporter) runs in the same script with only its meminfo, vmstat and pressure
collectors, so the ratio compares the same data served by both, on the same machine, in one run.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import subprocess
import threading
import time

from _harness import free_port, percentile, start_memmond, stop, wait_http


def scrape_loop(port: int, seconds: float, latencies: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(str(response.status))
        except OSError as exc:
            errors.append(repr(exc))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        latencies.append(time.perf_counter() - start)
    conn.close()


def measure(port: int, clients: int, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=scrape_loop, args=(port, seconds, latencies, errors)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def report(name: str, clients: int, latencies: list[float], errors: list[str], seconds: float) -> float:
    p50 = statistics.median(latencies) * 1000
    p99 = percentile(latencies, 0.99) * 1000
    print(
        f"{name:14} {clients:3} clients: {len(latencies) / seconds:8.0f} req/s  p50 {p50:7.2f} ms  "
        f"p99 {p99:7.2f} ms  errors {len(errors)}"
    )
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    proc, port = start_memmond("1s")
    results: dict[tuple[str, int], float] = {}
    try:
        for clients in (1, 50):
            latencies, errors = measure(port, clients, args.seconds)
            results[("memmond", clients)] = report("memmond", clients, latencies, errors, args.seconds)
    finally:
        stop(proc)

    exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not exporter:
        print("node_exporter not installed (apt-get install prometheus-node-exporter): no comparison")
        return
    ne_port = free_port()
    ne = subprocess.Popen(
        [
            exporter,
            f"--web.listen-address=127.0.0.1:{ne_port}",
            "--collector.disable-defaults",
            "--collector.meminfo",
            "--collector.vmstat",
            "--collector.pressure",
            "--collector.vmstat.fields=.*",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(ne_port, "/metrics")
        for clients in (1, 50):
            latencies, errors = measure(ne_port, clients, args.seconds)
            results[("node_exporter", clients)] = report("node_exporter", clients, latencies, errors, args.seconds)
    finally:
        stop(ne)
    for clients in (1, 50):
        ratio = results[("memmond", clients)] / results[("node_exporter", clients)]
        print(f"p50 memmond / node_exporter at {clients:2} clients: {ratio:5.2f}  (target <= 1)")


if __name__ == "__main__":
    main()
