"""The HTTP server: /metrics, a landing page, health and readiness. Handlers only read the latest
published state (a reference read, no lock, no /proc access), so scrapes never hold up sampling.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import selectors
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from memmond import __version__
from memmond.config import Listen
from memmond.model import trend
from memmond.serve.exposition import Published
from memmond.serve.webconfig import WebConfig

log = logging.getLogger("memmond.serve.http")

LANDING_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>memmond</title></head>
<body>
<h1>memmond {version}</h1>
<p>Linux memory monitor: /proc/meminfo, /proc/vmstat and memory pressure (PSI) as Prometheus metrics.</p>
<ul>
<li><a href="/metrics">/metrics</a> &mdash; Prometheus metrics</li>
<li><a href="/-/healthy">/-/healthy</a> &mdash; the process is up</li>
<li><a href="/-/ready">/-/ready</a> &mdash; the first sample is in</li>
<li><a href="/api/v1/trend?samples=20">/api/v1/trend?samples=20</a> &mdash; trends over recent samples (JSON)</li>
</ul>
</body></html>
"""


# Limits a scraper never comes near and a misbehaving client cannot get around.
MAX_CONNECTIONS = 64  # connections served at once; the next ones get 503 and are closed
HEAD_DEADLINE_SECONDS = 10.0  # a request line and headers must arrive within this (slowloris)
IDLE_TIMEOUT_SECONDS = 30.0  # silence on a kept-alive connection before it is closed
MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 16384


class _LimitedReader:
    """Reads lines from a file until `limit` bytes have gone by; past that it reads nothing more and says
    so, which ends header parsing early instead of buffering megabytes of headers."""

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw = raw
        self.left = limit
        self.exceeded = False

    def readline(self, size: int = -1) -> bytes:
        if self.left <= 0:
            self.exceeded = True
            return b"\r\n"  # looks like the end of the headers
        line = self.raw.readline(min(size, self.left + 1) if size >= 0 else self.left + 1)
        self.left -= len(line)
        if self.left < 0:
            self.exceeded = True
            return b"\r\n"
        return line


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, but at most MAX_CONNECTIONS of them: past that the connection is
        answered 503 at once, so a flood of clients cannot exhaust threads or memory."""
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):  # the client may be gone already
                body = b"too many connections\n"
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Connection: close\r\nRetry-After: 1\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            web = self.web
            if web is not None and web.tls is not None:
                # The handshake runs here, in the connection's thread: a slow or plain-HTTP client cannot
                # hold up the accept loop, and a failed handshake just closes its own connection.
                request.settimeout(HEAD_DEADLINE_SECONDS)
                try:
                    request = web.tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    log.debug("TLS handshake with %s failed: %s", client_address, exc)
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def __init__(self, listen: Listen, latest: Callable[[], Published | None], web: WebConfig | None = None) -> None:
        self.latest = latest
        self.web = web  # replaced whole on reload; each connection uses the one it started with
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        host = listen.host
        if host in ("", "::"):
            self.address_family = socket.AF_INET6
            self._dual_stack = True
            host = "::"
        else:
            infos = socket.getaddrinfo(host, listen.port, type=socket.SOCK_STREAM)
            self.address_family = infos[0][0]
            self._dual_stack = False
        super().__init__((host, listen.port), _Handler)

    def server_bind(self) -> None:
        if self._dual_stack:
            # ":9847" means every address: one IPv6 socket that also accepts IPv4 (mapped addresses).
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._accept_loop, name="http", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        # socketserver's serve_forever() wakes every poll_interval to look for a shutdown request: five
        # wake-ups a second cost more CPU than sampling at 1 Hz. This loop sleeps until a client connects
        # or stop() writes to the wake-up pipe.
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj == self._wake_read:
                        return
                    self._handle_request_noblock()

    def stop(self) -> None:
        """Stop accepting, wait for the accept loop to end, close the socket."""
        os.write(self._wake_write, b"x")
        self._thread.join(5)
        self.server_close()
        os.close(self._wake_read)
        os.close(self._wake_write)


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connection between scrapes
    server_version = f"memmond/{__version__}"
    sys_version = ""
    timeout = IDLE_TIMEOUT_SECONDS  # a client that sends nothing for this long loses its connection
    error_content_type = "text/plain; charset=utf-8"
    default_request_version = "HTTP/1.0"  # not 0.9: a garbled request still gets a status line and headers
    error_message_format = "%(code)d %(message)s\n"  # plain text; never echoes a traceback

    def handle_one_request(self) -> None:
        """The request head must be complete within HEAD_DEADLINE_SECONDS however slowly it trickles in
        (slowloris), and stay within MAX_REQUEST_LINE and MAX_HEADER_BYTES."""
        timer = threading.Timer(HEAD_DEADLINE_SECONDS, self._drop_connection)
        timer.daemon = True
        timer.start()
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", "GET"
                self.send_error(414, "Request line too long")
                self.close_connection = True
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            limited = _LimitedReader(self.rfile, MAX_HEADER_BYTES)
            original, self.rfile = self.rfile, limited  # parse_request reads the headers from self.rfile
            try:
                parsed = self.parse_request()
            finally:
                self.rfile = original
            if limited.exceeded:
                self.send_error(431, "Request header fields too large")
                self.close_connection = True
                return
            if not parsed:
                return
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        finally:
            timer.cancel()
        method = getattr(self, "do_" + self.command)
        method()
        self.wfile.flush()

    def _drop_connection(self) -> None:
        with contextlib.suppress(OSError):  # already closed
            self.connection.shutdown(socket.SHUT_RDWR)

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without NODELAY, Nagle holds the body until the client's
        # delayed ACK (40 ms on Linux) and every scrape takes 40 ms longer than its work.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _authorized(self) -> bool:
        """Basic auth when the web config has users: 401 with a challenge otherwise."""
        web = self.server.web
        if web is None or not web.users:
            return True
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if user and web.check(user, password):
                return True
        self._send(
            401,
            b"unauthorized\n",
            "text/plain; charset=utf-8",
            {"WWW-Authenticate": 'Basic realm="memmond", charset="UTF-8"'},
        )
        return False

    def do_GET(self) -> None:
        if not self._authorized():
            return
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            return  # the scraper gave up; nothing to answer
        except Exception:
            log.exception("error answering %s", self.path)
            self._send(500, b"internal error\n", "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def __getattr__(self, name: str) -> Any:
        # Every other method (POST, PUT, DELETE, made-up ones) gets 405, not http.server's 501.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self) -> None:
        self._send(405, b"method not allowed\n", "text/plain; charset=utf-8", {"Allow": "GET, HEAD"})

    def _route(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/metrics":
            self._metrics()
        elif path == "/api/v1/trend":
            self._trend(query)
        elif path == "/":
            self._send(200, LANDING_PAGE.format(version=__version__).encode(), "text/html; charset=utf-8")
        elif path == "/-/healthy":
            self._send(200, b"memmond is healthy\n", "text/plain; charset=utf-8")
        elif path == "/-/ready":
            if self.server.latest() is None:
                self._send(503, b"memmond is not ready: no sample yet\n", "text/plain; charset=utf-8")
            else:
                self._send(200, b"memmond is ready\n", "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _json(self, status: int, doc: object) -> None:
        self._send(status, json.dumps(doc).encode() + b"\n", "application/json")

    def _trend(self, query: str) -> None:
        """GET /api/v1/trend?samples=N: trends over the newest N samples (default 20), oldest first."""
        published = self.server.latest()
        params = urllib.parse.parse_qs(query)
        text = (params.get("samples") or ["20"])[0]
        if not text.isdigit() or not 2 <= int(text) <= 1_000_000:
            self._json(400, {"error": f"samples must be a whole number from 2, got {text!r}"})
            return
        history = published.history if published is not None else ()
        if len(history) < 2:
            self._json(503, {"error": "not enough samples yet", "samples": len(history)})
            return
        samples = history[-int(text) :]
        result = trend.analyze(samples, published.level_changes if published else ())
        self._json(200, {"requested_samples": int(text), **result.to_dict()})

    def _metrics(self) -> None:
        published = self.server.latest()
        if published is None:
            self._send(503, b"no sample yet\n", "text/plain; charset=utf-8")
            return
        gzip_ok = "gzip" in (self.headers.get("Accept-Encoding") or "")
        body, content_type = published.render(self.headers.get("Accept"), gzip_ok)
        extra = {"Content-Encoding": "gzip"} if gzip_ok else {}
        self._send(200, body, content_type, extra)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
