"""The HTTP server against clients that misbehave, on raw sockets: the daemon keeps serving and sampling.

Pure tests of the request parser first, then the daemon as a process with idle, slow, flooding and
resetting peers beside a normal scraper.
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import RunningDaemon

from memmond.config import Listen
from memmond.serve.http import (
    KNOWN_HEAD_BYTES,
    KNOWN_HEADS,
    HttpError,
    HttpServer,
    accepts_gzip,
    parse_head,
    parse_request_line,
)
from memmond.serve.loop import Loop


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


def timed_scrape(daemon: RunningDaemon) -> tuple[int, float]:
    started = time.monotonic()
    status = daemon.get("/metrics")[0]
    return status, time.monotonic() - started


@pytest.fixture(scope="module", autouse=True)
def enough_file_descriptors() -> Iterator[None]:
    """This test process holds thousands of sockets; the daemon raises its own limit itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def idle_connections(port: int, count: int, payload: bytes = b"") -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if payload:
                sock.sendall(payload)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


# -- the parser, pure ------------------------------------------------------------------------------------


def test_request_line_and_headers_parse_strictly() -> None:
    request = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nX-A: 1\r\nX-A: 2")
    assert (request.method, request.target, request.version) == ("GET", "/metrics?x=1", (1, 1))
    assert request.header("accept-encoding") == "gzip" and request.header("x-a") == "1, 2"
    assert request.keep_alive and not request.has_body
    assert not parse_head(b"GET / HTTP/1.0").keep_alive
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive").keep_alive
    assert not parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close").keep_alive
    assert parse_head(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3").has_body


@pytest.mark.parametrize(
    ("head", "status", "words"),
    [
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nbroken header\r\nConnection: close", 400, "no colon"),
        (b"GET /metrics HTTP/1.1\r\nConnection: close", 400, "without a Host"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded", 400, "folded"),
        (b"GET /metrics HTTP/1.1\r\nBad Name: x", 400, "header name"),
        (b"GET /metrics", 400, "HTTP/0.9"),
        (b"GARBAGE", 400, "malformed request line"),
        (b"GET /metrics HTTP/2.0\r\nHost: x", 505, "HTTP/1.0 and HTTP/1.1"),
        (b"GET metrics HTTP/1.1\r\nHost: x", 400, "request target"),
        (b"G(T / HTTP/1.1\r\nHost: x", 400, "method"),
    ],
)
def test_malformed_requests_are_named_errors(head: bytes, status: int, words: str) -> None:
    with pytest.raises(HttpError) as error:
        parse_head(head)
    assert error.value.status == status and words in error.value.detail


def test_request_line_alone_detects_http_0_9() -> None:
    with pytest.raises(HttpError, match=r"HTTP/0\.9"):
        parse_request_line(b"GET /\r")


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("x-gzipnot", False),
        ("identity", False),
        ("", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("GZIP", True),
    ],
)
def test_gzip_follows_accept_encoding_q_values(header: str, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip


# -- the daemon --------------------------------------------------------------------------------------------


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
        answer = raw(port, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(answer) == 405 and b"\r\nAllow: GET, HEAD\r\n" in answer
        assert status_of(raw(port, b"GARBAGE\r\n\r\n")) == 400
        for _ in range(5):
            answer = raw(port, os.urandom(4096))
            assert b"Traceback" not in answer
        response = raw(port, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert status_of(response) == 200 and b"memmond_samples_total" in response
        assert b"Traceback" not in raw(port, b"GET /%zz%00 HTTP/1.1\r\nHost: x\r\n\r\n")

        # HTTP/0.9 gets a status line and a reason, not silence.
        answer = raw(port, b"GET /metrics\r\n")
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"HTTP/0.9" in answer
        # A header line without a colon is an error, not a reason to drop the headers after it (a lost
        # Connection: close used to hang the client for the idle timeout).
        started = time.monotonic()
        answer = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nbroken\r\nConnection: close\r\n\r\n")
        assert status_of(answer) == 400 and time.monotonic() - started < 2
        assert status_of(raw(port, b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")) == 400  # no Host

        # gzip only where the client takes it
        for header, gzipped in ((b"gzip", True), (b"gzip;q=0", False), (b"x-gzipnot", False)):
            answer = raw(
                port,
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept-Encoding: " + header + b"\r\n\r\n",
            )
            assert (b"\r\nContent-Encoding: gzip\r\n" in answer) is gzipped, header

        # A bad query parameter is the client's error (400), never a 500 with a traceback in the log.
        status, _, body = daemon.get("/api/v1/trend?samples=%C2%B2%C2%B2")
        assert status == 400 and b"whole number" in body
        assert daemon.get("/api/v1/trend?samples=abc")[0] == 400
        assert "Traceback" not in daemon.stderr() and "error answering" not in daemon.stderr()
        assert daemon.proc is not None and daemon.proc.poll() is None


def test_pipelined_and_half_closed_requests_are_answered_in_order() -> None:
    with RunningDaemon() as daemon:
        answer = raw(
            daemon.port,
            b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert [status_of(b"HTTP/" + part) for part in answer.split(b"HTTP/")[1:]] == [200, 404, 200]
        assert answer.index(b"healthy") < answer.index(b"Not Found") < answer.index(b"ready")
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)  # half-closed: the answer still comes, then the server closes
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        assert status_of(data) == 200


def test_a_known_head_is_answered_as_parsed_and_any_change_to_it_is_seen() -> None:
    """The server remembers a few small request heads parsed (a scraper repeats its own, on any
    connection): the same bytes again get the same answer, and a head that differs in anything, even
    only by what follows, is parsed anew."""
    healthy = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
    gzip_metrics = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
    plain_metrics = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"
    with RunningDaemon() as daemon:
        answer = raw(
            daemon.port,
            healthy + healthy + healthy[:-2] + b"Connection: close\r\n\r\n",  # last: same start, a header more
            timeout=5,
        )
        assert answer.count(b"HTTP/1.1 200 OK") == 3
        assert answer.count(b"memmond is healthy") == 3
        assert answer.count(b"Connection: close") == 1
        answer = raw(daemon.port, gzip_metrics + gzip_metrics + plain_metrics + b"GET /nope HTTP/1.1\r\n\r\n")
        parts = answer.split(b"HTTP/1.1 ")[1:]  # each response after its status line's start
        assert [part.count(b"Content-Encoding: gzip") for part in parts[:3]] == [1, 1, 0]
        assert b"# HELP memmond_" in parts[2]  # plain text, not gzip
        assert parts[3].startswith(b"400 ")  # no Host: parsed anew, and refused


def test_the_heads_a_server_remembers_stay_few_and_small_whoever_sends_them() -> None:
    loop = Loop()
    server = HttpServer(loop, Listen("127.0.0.1", 0), lambda: None)
    try:
        for number in range(10 * KNOWN_HEADS):
            head = f"GET /{number} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            server.remember_head(head, parse_head(head[:-4]))
            assert len(server.known_heads) <= KNOWN_HEADS
        big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * KNOWN_HEAD_BYTES + b"\r\n\r\n"
        server.remember_head(big, parse_head(big[:-4]))
        assert big not in server.known_heads
    finally:
        server.close()
        loop.close()


def test_slowloris_is_cut_off_and_does_not_stop_scrapes_or_sampling(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("interval: 100ms\nhttp:\n  header_timeout: 2s\n")
    with RunningDaemon("--config", str(config)) as daemon:
        before = daemon.metrics()["memmond_samples_total"]
        started = time.monotonic()
        with idle_connections(daemon.port, 200, b"GET /metrics HTTP/1.1\r\nHost: x\r\n") as slow:
            status, seconds = timed_scrape(daemon)
            assert status == 200 and seconds < 1, seconds
            dropped: set[int] = set()
            while time.monotonic() - started < 6 and len(dropped) < len(slow):
                for index, sock in enumerate(slow):
                    if index in dropped:
                        continue
                    try:
                        sock.sendall(b"X")  # one byte at a time: never completes the head
                    except OSError:
                        dropped.add(index)
                        continue
                    if closed_by_peer(sock):
                        dropped.add(index)
                    sock.setblocking(True)
                assert daemon.get("/metrics")[0] == 200  # normal scrapes go on meanwhile
                time.sleep(0.3)
            elapsed = time.monotonic() - started
            assert len(dropped) == len(slow), f"only {len(dropped)} of {len(slow)} slow clients were dropped"
            assert elapsed < 5, elapsed  # header_timeout (2 s) from the first byte, however slowly more come
        samples = daemon.metrics()["memmond_samples_total"] - before
        assert samples >= 0.8 * (time.monotonic() - started) / 0.1, samples  # sampling kept its pace


def test_a_thousand_idle_connections_do_not_delay_a_scrape() -> None:
    with RunningDaemon() as daemon, idle_connections(daemon.port, 1000):
        time.sleep(0.2)
        for _ in range(5):
            status, seconds = timed_scrape(daemon)
            assert status == 200 and seconds < 1, seconds


def test_past_max_connections_the_longest_idle_makes_room(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("http:\n  max_connections: 50\n")
    with RunningDaemon("--config", str(config)) as daemon, idle_connections(daemon.port, 120) as idle:
        for _ in range(3):
            status, seconds = timed_scrape(daemon)
            assert status == 200 and seconds < 1
        time.sleep(0.2)
        open_now = [sock for sock in idle if not closed_by_peer(sock)]
        assert len(open_now) <= 50  # the oldest ones were closed to make room, the newest kept
        assert not closed_by_peer(idle[-1])


def test_a_slow_reader_does_not_delay_other_scrapes_and_is_cut_off(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("http:\n  write_timeout: 2s\n")
    with RunningDaemon("--config", str(config)) as daemon:
        one_answer = len(raw(daemon.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server must wait
        reader.connect(("127.0.0.1", daemon.port))
        with reader:
            reader.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 400)  # more answers than kernel buffers hold
            received = 0
            started = time.monotonic()
            while time.monotonic() - started < 4:  # past the write timeout, reading a byte at a time
                status, seconds = timed_scrape(daemon)
                assert status == 200 and seconds < 1, seconds
                received += len(reader.recv(1))
                time.sleep(0.3)
            reader.settimeout(3)
            try:
                while chunk := reader.recv(65536):  # now read fast: what the kernel had queued, then the end
                    received += len(chunk)
                ended = True
            except ConnectionResetError:
                ended = True
            except TimeoutError:
                ended = False
        assert ended, "the slow reader was never cut off"
        assert received < 400 * one_answer * 0.9, (received, one_answer)


def test_connections_reset_in_a_tight_loop_do_not_hurt_scrapes() -> None:
    with RunningDaemon() as daemon:
        linger = struct.pack("ii", 1, 0)  # close() sends RST instead of FIN
        deadline = time.monotonic() + 2
        resets = 0
        while time.monotonic() < deadline:
            sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=2)
            if resets % 2:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            sock.close()
            resets += 1
            if resets % 50 == 0:
                assert daemon.get("/metrics")[0] == 200
        assert resets > 100
        assert daemon.get("/metrics")[0] == 200
        assert daemon.proc is not None and daemon.proc.poll() is None
