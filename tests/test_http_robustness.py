"""The HTTP server against clients that misbehave, on raw sockets: the daemon keeps serving and sampling."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from conftest import RunningDaemon

from memmond.serve.http import HEAD_DEADLINE_SECONDS, MAX_CONNECTIONS


def raw(port: int, payload: bytes, read: bool = True, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        if not read:
            return b""
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0


def test_bad_requests_get_clear_errors_and_the_daemon_keeps_serving(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("interval: 200ms\n")
    with RunningDaemon("--config", str(config)) as daemon:
        port = daemon.port
        long_line = b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert status_of(raw(port, long_line)) == 414
        big_headers = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"b" * 20000 + b"\r\n\r\n"
        assert status_of(raw(port, big_headers)) == 431
        many_headers = b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(3000)) + b"\r\n"
        assert status_of(raw(port, many_headers)) == 431
        assert status_of(raw(port, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 405
        assert status_of(raw(port, b"GARBAGE\r\n\r\n")) == 400
        for _ in range(5):
            answer = raw(port, os.urandom(4096))
            assert b"Traceback" not in answer
        response = raw(port, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert status_of(response) == 200 and b"memmond_samples_total" in response
        assert b"Traceback" not in raw(port, b"GET /%zz%00 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert daemon.proc is not None and daemon.proc.poll() is None


def test_slowloris_is_cut_off_and_does_not_stop_scrapes_or_sampling(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("interval: 100ms\n")
    with RunningDaemon("--config", str(config)) as daemon:
        slow = [socket.create_connection(("127.0.0.1", daemon.port), timeout=2) for _ in range(10)]
        for sock in slow:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        before = daemon.metrics()["memmond_samples_total"]
        started = time.monotonic()
        dropped: set[int] = set()
        while time.monotonic() - started < HEAD_DEADLINE_SECONDS + 5 and len(dropped) < len(slow):
            for index, sock in enumerate(slow):
                if index in dropped:
                    continue
                try:
                    sock.sendall(b"X")  # one byte at a time, well within the per-read timeout
                    sock.settimeout(0.01)
                    if sock.recv(1) == b"":
                        dropped.add(index)
                except (BlockingIOError, TimeoutError):
                    pass
                except OSError:
                    dropped.add(index)
            assert daemon.get("/metrics")[0] == 200  # normal scrapes go on meanwhile
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        assert len(dropped) == len(slow), f"only {len(dropped)} of {len(slow)} slow clients were dropped"
        assert elapsed < HEAD_DEADLINE_SECONDS + 5
        samples = daemon.metrics()["memmond_samples_total"] - before
        assert samples >= 0.8 * elapsed / 0.1, (samples, elapsed)  # sampling kept its pace
        for sock in slow:
            sock.close()


def test_a_connection_flood_gets_503_beyond_the_limit_then_recovers(tmp_path: Path) -> None:
    with RunningDaemon() as daemon:
        idle = [socket.create_connection(("127.0.0.1", daemon.port), timeout=5) for _ in range(MAX_CONNECTIONS)]
        time.sleep(0.3)
        try:
            assert status_of(raw(daemon.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 503
        finally:
            for sock in idle:
                sock.close()
        daemon.wait_for(lambda: daemon.get("/metrics")[0] == 200, 5, "scrapes answered again")
        assert daemon.proc is not None and daemon.proc.poll() is None
