"""Idle and slowloris connections held open while a scraper scrapes: latency, status codes, jitter.

    .venv/bin/python benchmarks/idle.py [--counts 100,1000,5000] [--scrapes 200]

For each N: N connections that send nothing and N that trickle an unfinished request head (one byte a
second, as slowloris does) are held open; meanwhile one keep-alive client scrapes /metrics back to back.
Prints the scrape p50/p99 latency, the status codes seen (target: only 200), and the sampling jitter the
daemon measured meanwhile (target p99 <= 2 ms). Before the event loop, 64 silent sockets were enough to
answer every scrape 503.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import resource
import socket
import statistics
import threading
import time
from collections import Counter

from _harness import percentile, start_memmond, stop
from load import jitter_buckets, p99_bound


def hold(port: int, count: int, trickle: bool, stop_event: threading.Event, held: list[socket.socket]) -> None:
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if trickle:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        held.append(sock)
    while trickle and not stop_event.wait(1.0):
        for sock in held:
            with contextlib.suppress(OSError):  # cut off by the header timeout: that is the point
                sock.send(b"X")


def run(count: int, scrapes: int) -> None:
    proc, port = start_memmond("1s")
    stop_event = threading.Event()
    idle: list[socket.socket] = []
    slow: list[socket.socket] = []
    try:
        holders = [
            threading.Thread(target=hold, args=(port, count, False, stop_event, idle)),
            threading.Thread(target=hold, args=(port, count, True, stop_event, slow)),
        ]
        for thread in holders:
            thread.start()
        while len(idle) + len(slow) < 2 * count and all(t.is_alive() for t in holders):
            time.sleep(0.05)
        before = jitter_buckets(port, None)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        started = time.monotonic()
        for _ in range(scrapes):
            begin = time.perf_counter()
            try:
                conn.request("GET", "/metrics")
                response = conn.getresponse()
                response.read()
                statuses[str(response.status)] += 1
            except (OSError, http.client.HTTPException) as exc:
                statuses[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            latencies.append(time.perf_counter() - begin)
            time.sleep(0.02)
        conn.close()
        while time.monotonic() - started < 10:  # ten samples' worth of jitter with the connections held
            time.sleep(0.2)
        bound, samples = p99_bound(before, jitter_buckets(port, None))
        stop_event.set()
        for thread in holders:
            thread.join()
        print(
            f"{count:5} idle + {count:5} slowloris: scrape p50 {statistics.median(latencies) * 1000:6.2f} ms  "
            f"p99 {percentile(latencies, 0.99) * 1000:6.2f} ms  statuses {dict(statuses)}  "
            f"jitter p99 <= {bound * 1000:g} ms over {samples} samples"
        )
    finally:
        stop_event.set()
        for sock in idle + slow:
            sock.close()
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="100,1000,5000")
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * max(counts) + 256), hard))
    for count in counts:
        run(count, args.scrapes)


if __name__ == "__main__":
    main()
