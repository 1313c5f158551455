"""Load: 50 concurrent scrapers for 60 s over loopback, plain HTTP and TLS with basic auth.

    .venv/bin/python benchmarks/load.py [--seconds 60] [--clients 50]

Prints requests/s, p50/p99 latency and errors (target: 0) per phase, and the sampling jitter the daemon
itself measured meanwhile (memmond_sample_jitter_seconds; target p99 <= 2 ms at 1 Hz). Clients keep their
connection open, as Prometheus does. The TLS phase uses a throwaway CA made with the openssl CLI.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import bcrypt
from _harness import percentile, start_memmond, stop

AUTH = "Basic " + base64.b64encode(b"prometheus:secret").decode()


def make_tls(directory: Path) -> tuple[Path, ssl.SSLContext]:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=bench CA")
    (directory / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "ext",
    )
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=10)).decode()
    web = directory / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: {hashed}\n"
    )
    return web, ssl.create_default_context(cafile=str(directory / "ca.crt"))


def connect(port: int, tls: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if tls is not None:
        return http.client.HTTPSConnection("127.0.0.1", port, context=tls, timeout=10)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def get(conn: http.client.HTTPConnection, path: str, tls: bool) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"Authorization": AUTH} if tls else {})
    response = conn.getresponse()
    return response.status, response.read()


def jitter_buckets(port: int, tls: ssl.SSLContext | None) -> dict[float, float]:
    conn = connect(port, tls)
    _, body = get(conn, "/metrics", tls is not None)
    conn.close()
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("memmond_sample_jitter_seconds_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            out[float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    return out


def p99_bound(before: dict[float, float], after: dict[float, float]) -> tuple[float, int]:
    """The upper bound of the bucket holding the 99th percentile of the samples taken meanwhile."""
    deltas = {bound: after[bound] - before.get(bound, 0) for bound in sorted(after)}
    total = deltas[float("inf")]
    for bound, count in deltas.items():
        if count >= 0.99 * total:
            return bound, int(total)
    return float("inf"), int(total)


def phase(name: str, port: int, tls: ssl.SSLContext | None, clients: int, seconds: float) -> None:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        conn = connect(port, tls)
        local: list[float] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                status, _ = get(conn, "/metrics", tls is not None)
                if status != 200:
                    errors.append(str(status))
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = connect(port, tls)
                continue
            local.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(local)

    before = jitter_buckets(port, tls)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bound, samples = p99_bound(before, jitter_buckets(port, tls))
    print(
        f"{name:5} {clients} clients {seconds:g} s: {len(latencies) / seconds:7.0f} req/s  "
        f"p50 {statistics.median(latencies) * 1000:6.2f} ms  p99 {percentile(latencies, 0.99) * 1000:6.2f} ms  "
        f"errors {len(errors)}  sampling jitter p99 <= {bound * 1000:g} ms over {samples} samples "
        f"(target <= 2 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()

    proc, port = start_memmond("1s")
    try:
        phase("plain", port, None, args.clients, args.seconds)
    finally:
        stop(proc)
    with tempfile.TemporaryDirectory() as directory:
        web, context = make_tls(Path(directory))
        proc, port = start_memmond("1s", "--web.config.file", str(web), ready_path=None)
        try:
            phase("TLS", port, context, args.clients, args.seconds)
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
