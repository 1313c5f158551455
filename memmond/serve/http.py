"""The HTTP server: /metrics, a landing page, health, readiness and the JSON API, on the daemon's event loop.

A connection costs a socket and a small object, not a thread: idle and slow peers wait in epoll, so they
cannot take a place a scrape needs (with threads, 64 silent sockets locked Prometheus out). Every
connection has deadlines (the request head within `header_timeout`, silence between kept-alive requests
at most `idle_timeout`, a response fully read within `write_timeout`), and when `max_connections` are
open the one that has waited longest for a request makes room for the newcomer, so even a flood of
sockets cannot lock scrapes out. Responses are the bytes rendered once per sample: a slow reader holds a
reference to them, not a copy. Basic auth's bcrypt (tens of milliseconds by design) runs on a worker
thread, bounded by `MAX_AUTH_IN_FLIGHT`; nothing else leaves the loop.

Handlers only read the latest published state (no /proc access), so answering a scrape is sending bytes.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import errno
import functools
import heapq
import json
import logging
import queue
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memmond import __version__
from memmond.config import HttpLimits, Listen
from memmond.model import trend
from memmond.serve.exposition import Published
from memmond.serve.loop import READ, WRITE, Loop, Timer

if TYPE_CHECKING:
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
<li><a href="/api/v1/oom">/api/v1/oom</a> &mdash; the last 100 OOM kills: victim, cgroup, size (JSON)</li>
<li><a href="/api/v1/rules">/api/v1/rules</a> &mdash; memmond's rules: state, how long, what they said (JSON)</li>
<li><a href="/api/v1/events">/api/v1/events</a> &mdash; memory events with the seconds around them (JSON)</li>
</ul>
</body></html>
"""

# Limits a scraper never comes near and a misbehaving client cannot get around.
MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 16384
KNOWN_HEADS = 16  # request heads remembered parsed (HttpServer.known_heads)
KNOWN_HEAD_BYTES = 1024  # the largest remembered: Prometheus sends ~250
MAX_AUTH_IN_FLIGHT = 16  # bcrypt checks queued or running; past that: 503, Retry-After
MAX_INPUT_BUFFER = MAX_REQUEST_LINE + MAX_HEADER_BYTES + 4  # pipelined bytes kept while a response goes out
READ_CHUNK = 65536
READS_PER_EVENT = 4  # then back to the loop, so one fast sender cannot hog it
ACCEPTS_PER_EVENT = 64
LINGER_SECONDS = 1.0  # after a last response, how long unread input is drained before closing
ACCEPT_PAUSE_SECONDS = 0.1  # out of file descriptors with nobody to evict: stop accepting this long

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(rb"^HTTP/([0-9])\.([0-9])$")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TARGET = re.compile(rb"^/[\x21-\x7e]*$")
_DIGITS = re.compile(r"^[0-9]{1,7}$")  # ASCII only: str.isdigit() also takes '²'
_EVENT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PLAIN_HTTP_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"Client sent an HTTP request to an HTTPS server.\n"
)


class HttpError(Exception):
    """A request the server answers with `status` and closes the connection after."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: tuple[int, int]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    keep_alive: bool
    has_body: bool

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


def parse_request_line(line: bytes) -> tuple[str, str, tuple[int, int]]:
    """'GET /metrics HTTP/1.1' -> ('GET', '/metrics', (1, 1)); HttpError for anything else."""
    line = line.rstrip(b"\r")
    parts = line.split(b" ")
    if len(parts) == 2 and _TOKEN.match(parts[0]):
        raise HttpError(400, "HTTP/0.9 requests are not supported; send HTTP/1.0 or HTTP/1.1")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line; expected METHOD /path HTTP/1.1")
    method, target, version_text = parts
    version = _VERSION.match(version_text)
    if version is None:
        raise HttpError(400, "malformed HTTP version; expected HTTP/1.0 or HTTP/1.1")
    if version.group(1) != b"1":
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    if not _TOKEN.match(method):
        raise HttpError(400, "malformed method")
    if not _TARGET.match(target):
        raise HttpError(400, "malformed request target; expected a path starting with /")
    return method.decode("ascii"), target.decode("ascii"), (1, int(version.group(2)))


def parse_head(head: bytes) -> Request:
    """A complete request head (request line and header lines, without the blank line) into a Request."""
    lines = head.split(b"\n")
    method, target, version = parse_request_line(lines[0])
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "folded header lines are not supported")
        name, colon, value = line.partition(b":")
        if not colon:
            raise HttpError(400, "malformed header line: no colon")
        if not _TOKEN.match(name):
            raise HttpError(400, "malformed header name")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    if version == (1, 1) and "host" not in headers:
        raise HttpError(400, "HTTP/1.1 request without a Host header")
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in tokens if version == (1, 0) else "close" not in tokens
    length = headers.get("content-length", "0").strip()
    has_body = "transfer-encoding" in headers or length not in ("", "0")
    return Request(method, target, version, headers, keep_alive, has_body)


def _weighted(header: str | None) -> list[tuple[str, float]]:
    """(value, q) for each item of a comma-separated header with q-values (Accept, Accept-Encoding):
    the value lower-cased without its parameters; q 1 when absent, 0 when unreadable."""
    items = []
    for item in (header or "").split(","):
        value, *params = item.split(";")
        quality = 1.0
        for param in params:
            key, _, number = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        items.append((value.strip().lower(), quality))
    return items


@functools.lru_cache(maxsize=64)  # a scraper sends the same header every time; bounded for anyone else
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether the client takes gzip: listed (or '*') with a q-value above 0 (RFC 9110, 12.5.3)."""
    explicit: float | None = None
    star: float | None = None
    for coding, quality in _weighted(accept_encoding):
        if coding in ("gzip", "x-gzip"):
            explicit = quality
        elif coding == "*":
            star = quality
    if explicit is not None:
        return explicit > 0
    return star is not None and star > 0


@functools.lru_cache(maxsize=64)
def wants_openmetrics(accept: str | None) -> bool:
    """OpenMetrics when the Accept header lists it with a q-value above 0 (Prometheus asks for it first)."""
    return any(media == "application/openmetrics-text" and q > 0 for media, q in _weighted(accept))


class _HttpDate:
    """The Date header, formatted once a second (not per response), in the C locale whatever the host's."""

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            t = time.gmtime(now)
            self.value = (
                f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
            ).encode()
            self.second = now
        return self.value


_http_date = _HttpDate()


def response_head(status: int, length: int, content_type: str, headers: dict[str, str], close: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {REASONS[status]}\r\nServer: memmond/{__version__}\r\nDate: ".encode(),
        _http_date(),
        f"\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n".encode(),
    ]
    for key, value in headers.items():
        lines.append(f"{key}: {value}\r\n".encode())
    if close:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _AuthWorker:
    """bcrypt checks off the loop: one thread (bcrypt releases the GIL while hashing), a bounded queue,
    results handed back to the loop's thread."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.queue: queue.SimpleQueue[tuple[WebConfig, str, str, Callable[[bool], None]] | None] = queue.SimpleQueue()
        self.in_flight = 0
        self.thread: threading.Thread | None = None

    def submit(self, web: WebConfig, user: str, password: str, done: Callable[[bool], None]) -> bool:
        if self.in_flight >= MAX_AUTH_IN_FLIGHT:
            return False
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name="auth", daemon=True)
            self.thread.start()
        self.in_flight += 1
        self.queue.put((web, user, password, done))
        return True

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            web, user, password, done = item
            try:
                ok = web.verify(user, password)
            except Exception:
                log.exception("checking basic auth credentials failed")
                ok = False
            self.loop.call_soon_threadsafe(lambda w=web, u=user, p=password, d=done, o=ok: self._finish(w, u, p, d, o))

    def _finish(self, web: WebConfig, user: str, password: str, done: Callable[[bool], None], ok: bool) -> None:
        self.in_flight -= 1
        if ok:
            web.remember(user, password)
        done(ok)

    def stop(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join(2)


# Connection states
TLS_DETECT, HANDSHAKE, HEAD, AUTH, WRITING, LINGER, CLOSED = range(7)


class _Connection:
    __slots__ = (
        "close_after",
        "deadline",
        "eof",
        "events",
        "fd",
        "heap_when",
        "inbuf",
        "line_checked",
        "out",
        "processing",
        "scanned",
        "server",
        "sock",
        "state",
        "tls",
        "write_deadline_set",
    )

    def __init__(self, server: HttpServer, sock: socket.socket, tls: bool) -> None:
        self.server = server
        self.sock: Any = sock
        self.fd = sock.fileno()
        self.inbuf = bytearray()
        self.out: collections.deque[memoryview] = collections.deque()
        self.state = TLS_DETECT if tls else HEAD
        self.tls = tls
        self.events = READ
        self.deadline: float | None = None
        self.heap_when: float | None = None
        self.close_after = False
        self.eof = False
        self.processing = False
        self.line_checked = False  # the request line in the buffer passed parse_request_line
        self.scanned = 0  # the buffer holds no head end before this offset
        self.write_deadline_set = False

    # -- events ---------------------------------------------------------------------------------------
    def on_event(self, mask: int) -> None:
        if mask & (READ | WRITE) == 0:  # EPOLLERR or EPOLLHUP alone: the peer is gone
            self.close()
            return
        if self.state == TLS_DETECT:
            self._detect_tls()
        elif self.state == HANDSHAKE:
            self._handshake()
        elif self.state == LINGER:
            self._discard()
        else:
            if mask & READ:
                self._read()
            if mask & WRITE and self.state == WRITING:
                self._flush()

    def _want(self, events: int) -> None:
        if events != self.events and self.state != CLOSED:
            self.events = events
            self.server.loop.modify(self.fd, events)

    # -- TLS ------------------------------------------------------------------------------------------
    def _detect_tls(self) -> None:
        """A TLS client starts with a handshake record (0x16); an HTTP client with a method name. The
        latter gets a plain-text 400 saying what went wrong, as node_exporter's server answers."""
        try:
            first = self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        if first == b"\x16":
            web = self.server.web
            if web is None or web.tls is None:  # TLS switched off by a reload since accept
                self.state = HEAD
                self._read()
                return
            self.sock = web.tls.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
            self.state = HANDSHAKE
            self._handshake()
            return
        if first[:1].isalpha():
            with contextlib.suppress(OSError):
                self.sock.send(PLAIN_HTTP_TO_TLS)
        self.close()

    def _handshake(self) -> None:
        import ssl

        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._want(READ)
            return
        except ssl.SSLWantWriteError:
            self._want(WRITE)
            return
        except OSError as exc:  # ssl.SSLError included: a failed handshake closes its own connection only
            log.debug("TLS handshake failed: %s", exc)
            self.close()
            return
        self.state = HEAD
        self._want(READ)
        self._read()  # the request may have arrived with the handshake's last flight

    # -- reading --------------------------------------------------------------------------------------
    def _read(self) -> None:
        for _ in range(READS_PER_EVENT):
            if len(self.inbuf) > MAX_INPUT_BUFFER:
                break
            try:
                data = self.sock.recv(READ_CHUNK)
            except BlockingIOError:
                break
            except OSError as exc:
                if self.tls and _would_block(exc):
                    break
                self.close()
                return
            if not data:
                self.eof = True
                break
            self.inbuf += data
            if len(data) < READ_CHUNK and not self.tls:
                # Drained: the next recv would fail with EAGAIN (a syscall and an exception a request);
                # epoll, level-triggered, wakes the loop again for anything that arrives later. TLS reads
                # on: decrypted bytes can wait in the SSL object with nothing for epoll to see.
                break
        if self.state == HEAD:
            self._process()
        elif len(self.inbuf) > MAX_INPUT_BUFFER and self.state != CLOSED:
            self._want(WRITE if self.state == WRITING else 0)  # stop reading until this response is out

    def _process(self) -> None:
        """Answer every complete request in the buffer, one at a time (pipelining keeps its order)."""
        server = self.server
        self.processing = True
        try:
            self._process_requests(server)
        finally:
            self.processing = False

    def _process_requests(self, server: HttpServer) -> None:
        while self.state == HEAD:
            inbuf = self.inbuf
            while inbuf[:2] == b"\r\n":  # stray line breaks between requests (RFC 9112, 2.2)
                del inbuf[:2]
                self.scanned = 0
            try:
                request = self._next_request()
            except HttpError as error:
                self.respond_error(error.status, error.detail)
                return
            if request is None:
                if self.eof:
                    self.close()
                elif inbuf:
                    server.waiting_for_head(self)
                return
            server.handle(self, request)

    def _next_request(self) -> Request | None:
        inbuf = self.inbuf
        if not self.line_checked:  # a request's first look: is it a head the server has parsed before?
            end = _HEAD_END.search(inbuf, 0, KNOWN_HEAD_BYTES)
            if end is not None:
                known = self.server.known_heads.get(bytes(inbuf[: end.end()]))
                if known is not None:
                    del inbuf[: end.end()]
                    self.scanned = 0
                    return known
        line_end = inbuf.find(b"\n", 0, MAX_REQUEST_LINE + 2)
        if line_end < 0:
            if len(inbuf) > MAX_REQUEST_LINE:
                raise HttpError(414, "request line too long")
            return None
        if line_end > MAX_REQUEST_LINE:
            raise HttpError(414, "request line too long")
        if not self.line_checked:  # once per request: a slowloris byte must not cost a parse each
            parse_request_line(bytes(inbuf[:line_end]))  # a bad request line is answered before its headers
            self.line_checked = True
        end = _HEAD_END.search(inbuf, max(line_end - 1, self.scanned))
        if end is None:
            if len(inbuf) - line_end > MAX_HEADER_BYTES:
                raise HttpError(431, "request header fields too large")
            self.scanned = max(len(inbuf) - 3, 0)  # the next search starts where this one stopped
            return None
        if end.start() - line_end > MAX_HEADER_BYTES:
            raise HttpError(431, "request header fields too large")
        request = parse_head(bytes(inbuf[: end.start()]))
        self.server.remember_head(bytes(inbuf[: end.end()]), request)
        del inbuf[: end.end()]
        self.line_checked = False
        self.scanned = 0
        return request

    # -- writing --------------------------------------------------------------------------------------
    def send(self, head: bytes, body: bytes, close: bool) -> None:
        self.close_after = close
        if self.tls:  # one TLS record stream: SSLSocket has no sendmsg
            self.out.append(memoryview(head + body))
        else:
            self.out.append(memoryview(head))
            if body:
                self.out.append(memoryview(body))
        self.state = WRITING
        self.server.leaving_head(self)
        self._flush()

    def _flush(self) -> None:
        out = self.out
        while out:
            try:
                sent = self.sock.send(out[0]) if self.tls else self.sock.sendmsg(out)
            except BlockingIOError:
                self._wait_writable()
                return
            except OSError as exc:
                if self.tls and _would_block(exc):
                    self._wait_writable()
                    return
                self.close()  # the peer went away (reset, broken pipe): nothing to answer
                return
            while sent and out:
                first = out[0]
                if sent >= len(first):
                    sent -= len(first)
                    out.popleft()
                else:
                    out[0] = first[sent:]
                    sent = 0
        if self.close_after or self.eof:
            self._linger()
            return
        self.state = HEAD
        self.write_deadline_set = False
        self._want(READ)
        self.server.waiting_for_request(self)
        if self.inbuf and not self.processing:
            self._process()  # a pipelined request is already here (inside _process, its loop goes on)

    def _linger(self) -> None:
        """Close after a last response without losing it: closing a socket with unread input makes the
        kernel send a reset, which can destroy the response before the client reads it. So: stop writing,
        read and discard until the client closes (at most LINGER_SECONDS), then close."""
        if self.eof and not self.inbuf:
            self.close()
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.state = LINGER
        self.inbuf.clear()
        self._want(READ)
        self.server.arm(self, time.monotonic() + LINGER_SECONDS)

    def _discard(self) -> None:
        for _ in range(READS_PER_EVENT):
            try:
                data = self.sock.recv(READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                break
            if not data:
                break
        else:
            return
        self.close()

    def _wait_writable(self) -> None:
        if not self.write_deadline_set:
            self.write_deadline_set = True
            self.server.arm(self, time.monotonic() + self.server.limits.write_timeout_seconds)
        self._want(WRITE)

    def respond(
        self, request: Request, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        close = not request.keep_alive or request.has_body or self.server.closing
        head = response_head(status, len(body), content_type, headers or {}, close)
        self.send(head, b"" if request.method == "HEAD" else body, close)

    def respond_error(self, status: int, detail: str) -> None:
        """An error that ends the connection: the reader cannot know where the next request starts."""
        body = f"{status} {REASONS[status]}: {detail}\n".encode()
        self.send(response_head(status, len(body), TEXT, {}, True), body, True)

    def close(self) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.server.forget(self)
        with contextlib.suppress(OSError):
            self.sock.close()


def _would_block(exc: OSError) -> bool:
    import ssl

    return isinstance(exc, (ssl.SSLWantReadError, ssl.SSLWantWriteError))


class HttpServer:
    def __init__(
        self,
        loop: Loop,
        listen: Listen,
        latest: Callable[[], Published | None],
        web: WebConfig | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        self.loop = loop
        self.latest = latest
        self.web = web  # replaced whole on reload; new connections and requests use the new one
        self.limits = limits or HttpLimits()
        self.closing = False
        self.connections: dict[int, _Connection] = {}
        # Request heads parsed before, with their blank line: a scraper sends the same bytes every time
        # (Prometheus: one head per target, the same on every connection), so a known head is not parsed
        # again (Request is immutable). A few small heads: memory stays bounded whoever sends what.
        self.known_heads: dict[bytes, Request] = {}
        # Connections waiting for a request (idle keep-alive, or a head still arriving), oldest first:
        # the first one makes room when max_connections are open.
        self._waiting: collections.OrderedDict[int, _Connection] = collections.OrderedDict()
        self._deadlines: list[tuple[float, int, _Connection]] = []
        self._deadline_sequence = 0
        self._sweep_timer: Timer | None = None
        self._auth = _AuthWorker(loop)
        self._accept_paused = False
        self.evicted_total = 0
        self.socket = self._listen(listen)
        loop.add(self.socket.fileno(), READ, self._on_accept)

    @staticmethod
    def _listen(listen: Listen) -> socket.socket:
        host = listen.host
        if host in ("", "::"):
            # ":9847" means every address: one IPv6 socket that also accepts IPv4 (mapped addresses).
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            address: tuple[Any, ...] = ("::", listen.port)
        else:
            family, kind, proto, _, address = socket.getaddrinfo(host, listen.port, type=socket.SOCK_STREAM)[0]
            sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    # -- accepting ------------------------------------------------------------------------------------
    def _on_accept(self, mask: int) -> None:
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, _ = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self._evict_one():
                        self._pause_accepting(exc)
                        return
                    continue
                continue  # ECONNABORTED and the like: that client is gone, the next may not be
            if len(self.connections) >= self.limits.max_connections and not self._evict_one():
                sock.close()  # every open connection is busy with a request: nobody to make room
                continue
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Without NODELAY, Nagle holds a response's last segment for the client's delayed ACK.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            web = self.web
            conn = _Connection(self, sock, tls=web is not None and web.tls is not None)
            self.connections[conn.fd] = conn
            self.loop.add(conn.fd, READ, conn.on_event)
            self._waiting[conn.fd] = conn
            self.arm(conn, time.monotonic() + self.limits.header_timeout_seconds)

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for a request; False when none waits."""
        if not self._waiting:
            return False
        _, oldest = self._waiting.popitem(last=False)
        oldest.close()
        self.evicted_total += 1
        return True

    def _pause_accepting(self, exc: OSError) -> None:
        if self._accept_paused:
            return
        log.warning("cannot accept connections: %s; pausing %.1f s", exc.strerror or exc, ACCEPT_PAUSE_SECONDS)
        self._accept_paused = True
        self.loop.remove(self.socket.fileno())

        def resume() -> None:
            self._accept_paused = False
            if not self.closing:
                self.loop.add(self.socket.fileno(), READ, self._on_accept)

        self.loop.call_at(time.monotonic() + ACCEPT_PAUSE_SECONDS, resume)

    # -- connection bookkeeping -----------------------------------------------------------------------
    def remember_head(self, head: bytes, request: Request) -> None:
        if len(head) > KNOWN_HEAD_BYTES:
            return
        if len(self.known_heads) >= KNOWN_HEADS:
            self.known_heads.clear()  # many different heads (not scrapers): start again
        self.known_heads[head] = request

    def waiting_for_request(self, conn: _Connection) -> None:
        """The connection is idle between requests: the idle timeout runs, and it may be evicted."""
        self._waiting[conn.fd] = conn
        self._waiting.move_to_end(conn.fd)
        self.arm(conn, time.monotonic() + self.limits.idle_timeout_seconds)

    def waiting_for_head(self, conn: _Connection) -> None:
        """Part of a request head is in: it must be complete within header_timeout of now."""
        deadline = time.monotonic() + self.limits.header_timeout_seconds
        if conn.deadline is None or deadline < conn.deadline:
            self.arm(conn, deadline)

    def leaving_head(self, conn: _Connection) -> None:
        self._waiting.pop(conn.fd, None)
        conn.deadline = None

    def forget(self, conn: _Connection) -> None:
        self.loop.remove(conn.fd)
        self.connections.pop(conn.fd, None)
        self._waiting.pop(conn.fd, None)

    def arm(self, conn: _Connection, deadline: float) -> None:
        """Set the connection's deadline. The heap keeps at most the earliest entry per connection: a later
        deadline is found when that entry comes due, so keep-alive requests do not grow the heap."""
        conn.deadline = deadline
        if conn.heap_when is None or deadline < conn.heap_when:
            conn.heap_when = deadline
            self._deadline_sequence += 1
            heapq.heappush(self._deadlines, (deadline, self._deadline_sequence, conn))
            if self._sweep_timer is None or deadline < self._sweep_timer.when:
                if self._sweep_timer is not None:
                    self._sweep_timer.cancel()
                self._sweep_timer = self.loop.call_at(deadline, self._sweep)

    def _sweep(self) -> None:
        self._sweep_timer = None
        now = time.monotonic()
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            when, _, conn = heapq.heappop(heap)
            if conn.state == CLOSED or when != conn.heap_when:
                continue  # superseded by an earlier entry, or the connection is gone
            conn.heap_when = None
            if conn.deadline is None:
                continue  # waiting on auth: no deadline of its own
            if conn.deadline <= now:
                log.debug("closing connection %d: deadline passed in state %d", conn.fd, conn.state)
                conn.close()
            else:
                self.arm(conn, conn.deadline)
        while heap and (heap[0][2].state == CLOSED or heap[0][0] != heap[0][2].heap_when):
            heapq.heappop(heap)
        if heap and self._sweep_timer is None:
            self._sweep_timer = self.loop.call_at(heap[0][0], self._sweep)

    # -- requests -------------------------------------------------------------------------------------
    def handle(self, conn: _Connection, request: Request) -> None:
        if request.method not in ("GET", "HEAD"):
            conn.respond(request, 405, b"405 Method Not Allowed\n", TEXT, {"Allow": "GET, HEAD"})
            return
        web = self.web
        if web is None or not web.users:
            self._route(conn, request)
            return
        user, password = _basic_credentials(request.header("authorization"))
        if user is None:
            self._unauthorized(conn, request)
        elif web.cached(user, password):
            self._route(conn, request)
        else:
            self.leaving_head(conn)
            conn.state = AUTH
            conn._want(0)  # nothing more from this client until its credentials are checked

            def done(ok: bool) -> None:
                if conn.state != AUTH:
                    return  # closed meanwhile
                conn.state = HEAD
                if ok:
                    self._route(conn, request)
                else:
                    self._unauthorized(conn, request)

            if not self._auth.submit(web, user, password, done):
                conn.state = HEAD
                conn._want(READ)
                conn.respond(
                    request, 503, b"503 Service Unavailable: too many logins in progress\n", TEXT, {"Retry-After": "1"}
                )

    def _unauthorized(self, conn: _Connection, request: Request) -> None:
        conn.respond(
            request, 401, b"401 Unauthorized\n", TEXT, {"WWW-Authenticate": 'Basic realm="memmond", charset="UTF-8"'}
        )

    def _route(self, conn: _Connection, request: Request) -> None:
        path, _, query = request.target.partition("?")
        try:
            if path == "/metrics":
                self._metrics(conn, request, query)
            elif path == "/api/v1/trend":
                self._trend(conn, request, query)
            elif path == "/api/v1/oom":
                published = self.latest()
                kills = list(published.oom_recent) if published is not None else []
                readable = published.oom_victims_readable if published is not None else False
                self._json(conn, request, 200, {"victims_readable": readable, "kills": kills})
            elif path == "/api/v1/rules":
                published = self.latest()
                if published is None:
                    self._json(conn, request, 503, {"error": "no sample yet"})
                else:
                    now = published.snapshot.monotonic
                    self._json(conn, request, 200, {"rules": [rule.to_dict(now) for rule in published.rules]})
            elif path == "/api/v1/events" or path.startswith("/api/v1/events/"):
                self._events(conn, request, path.removeprefix("/api/v1/events").lstrip("/"))
            elif path == "/":
                conn.respond(request, 200, LANDING_PAGE.format(version=__version__).encode(), HTML)
            elif path == "/-/healthy":
                conn.respond(request, 200, b"memmond is healthy\n", TEXT)
            elif path == "/-/ready":
                if self.latest() is None:
                    conn.respond(request, 503, b"memmond is not ready: no sample yet\n", TEXT)
                else:
                    conn.respond(request, 200, b"memmond is ready\n", TEXT)
            else:
                conn.respond(request, 404, b"404 Not Found\n", TEXT)
        except Exception:
            log.exception("error answering %s", request.target)
            if conn.state == HEAD:
                conn.respond(request, 500, b"500 Internal Server Error\n", TEXT)

    def _metrics(self, conn: _Connection, request: Request, query: str = "") -> None:
        published = self.latest()
        if published is None:
            conn.respond(request, 503, b"no sample yet\n", TEXT)
            return
        gzip_ok = accepts_gzip(request.header("accept-encoding"))
        wanted = urllib.parse.parse_qs(query).get("name[]") if query else None  # prometheus_client's filter
        names = frozenset(wanted) if wanted else None
        body, content_type = published.render(wants_openmetrics(request.header("accept")), gzip_ok, names)
        conn.respond(request, 200, body, content_type, {"Content-Encoding": "gzip"} if gzip_ok else {})

    def _trend(self, conn: _Connection, request: Request, query: str) -> None:
        """GET /api/v1/trend?samples=N: trends over the newest N samples (default 20), oldest first."""
        published = self.latest()
        params = urllib.parse.parse_qs(query)
        text = (params.get("samples") or ["20"])[0]
        if not _DIGITS.match(text) or not 2 <= int(text) <= 1_000_000:
            self._json(conn, request, 400, {"error": f"samples must be a whole number from 2 to 1000000, got {text!r}"})
            return
        history = published.history if published is not None else None
        available = len(history) if history is not None else 0
        if published is None or history is None or available < 2:
            self._json(conn, request, 503, {"error": "not enough samples yet", "samples": available})
            return
        result = trend.analyze(history.latest(int(text)), published.level_changes)
        self._json(conn, request, 200, {"requested_samples": int(text), **result.to_dict()})

    def _events(self, conn: _Connection, request: Request, record_id: str) -> None:
        """GET /api/v1/events: the recorded memory events, newest first; /api/v1/events/ID: one record."""
        published = self.latest()
        store = published.event_store if published is not None else None
        if store is None:
            self._json(conn, request, 404, {"error": "event recording is off (events.record: false)"})
            return
        if not record_id:
            doc = {"persisted": store.persisted, "directory": str(store.directory) if store.directory else None}
            self._json(conn, request, 200, {**doc, "problem": store.problem, "events": store.list()})
            return
        body = store.get(record_id) if _EVENT_ID.match(record_id) else None
        if body is None:
            self._json(conn, request, 404, {"error": f"no event {record_id!r}"})
            return
        conn.respond(request, 200, body + b"\n", "application/json")

    @staticmethod
    def _json(conn: _Connection, request: Request, status: int, doc: object) -> None:
        conn.respond(request, status, json.dumps(doc).encode() + b"\n", "application/json")

    # -- stopping -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop accepting; answers being written get a moment to finish, then every connection closes."""
        self.closing = True
        if not self._accept_paused:
            self.loop.remove(self.socket.fileno())
        self.socket.close()
        self._auth.stop()
        deadline = time.monotonic() + 1.0
        for conn in list(self.connections.values()):
            if conn.state != WRITING:
                conn.close()
        while self.connections and time.monotonic() < deadline:
            for conn in list(self.connections.values()):
                conn._flush()
            if self.connections:
                time.sleep(0.01)
        for conn in list(self.connections.values()):
            conn.close()


def _basic_credentials(header: str) -> tuple[str | None, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None, ""
    return (user, password) if user and colon else (None, "")
