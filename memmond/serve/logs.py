"""Logging: journald with structured fields under systemd, plain lines on stderr otherwise.

Events carry `MEMMOND_EVENT` and a stable `MESSAGE_ID` per event type, so operators can
`journalctl MESSAGE_ID=...` or `journalctl -u memmond MEMMOND_EVENT=reload_failed` across versions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import struct
import sys
import time
from collections.abc import Mapping
from typing import Any

IDENTIFIER = "memmond"

# Stable across releases: never change a value, only add new ones.
MESSAGE_IDS = {
    "started": "7a95847dd21c468ab9f3a7778541fa75",
    "stopped": "b867c67445ba417a96b71d982621b017",
    "reloaded": "9b4760aed40042f78c74cf2bcb23c905",
    "reload_failed": "8291645b12d24755a75ad7a1c7f427f9",
    "source_down": "e43d32f829174a65a7c14d14ecb77b98",
    "source_up": "16eef8e7bb814c7488feecb523b8edca",
    "journal_unreachable": "068d94f153bb4f16b01f1836df427569",
    "rule_firing": "9cb48291fae442ab836fb3ee917cda34",
    "rule_resolved": "2f78389d9212436db919ef0b64cafbfe",
    "rule_pending": "1e08662fb06d442faf38b10c3399ef05",
    "pressure_level": "dedd74a8afc84880822ff4f3f00ad402",
    "oom_kill": "b06c4d3f32014bbda2b71c84a88ea5b7",
    "memory_stall": "a5f1506e346749928cd2df3122251d4e",
    "memory_event": "6f0d3c1e8b2a4f57a4d9e0c7b1f23a86",
}
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
RETRY_JOURNAL_SECONDS = 60.0
JOURNAL_SOCKET = "/run/systemd/journal/socket"  # fixed in libsystemd
_JOURNAL_FIELD = re.compile(r"^[A-Z0-9][A-Z0-9_]*$")

log = logging.getLogger("memmond")


def event(level: int, name: str, message: str, /, *args: object, **fields: object) -> None:
    """Log one event: `fields` become MEMMOND_<NAME> journal fields (and key=value on stderr)."""
    extra: dict[str, Any] = {"MEMMOND_EVENT": name}
    if name in MESSAGE_IDS:
        extra["MESSAGE_ID"] = MESSAGE_IDS[name]
    for key, value in fields.items():
        extra[f"MEMMOND_{key.upper()}"] = value
    log.log(level, message, *args, extra=extra)


def event_fields_text(fields: Mapping[str, object]) -> str:
    """An event's MEMMOND_* fields as 'key=value ...' for a stderr line (the event name itself left out)."""
    return " ".join(
        f"{key[len('MEMMOND_') :].lower()}={value}"
        for key, value in fields.items()
        if key.startswith("MEMMOND_") and key != "MEMMOND_EVENT"
    )


class StderrFormatter(logging.Formatter):
    """'2026-11-25T04:19:00Z warning memmond: message [key=value ...]'."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        fields = event_fields_text(record.__dict__)
        text = f"{stamp} {record.levelname.lower()} memmond: {record.getMessage()}"
        if fields:
            text += f" [{fields}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


_PRIORITIES = {logging.CRITICAL: "2", logging.ERROR: "3", logging.WARNING: "4", logging.INFO: "6", logging.DEBUG: "7"}
MAX_DATAGRAM = 200_000  # journald takes larger ones through a memfd; memmond's messages are a few hundred bytes


def journal_fields(record: logging.LogRecord, message: str) -> dict[str, str]:
    """The journal entry of a record: the fields systemd-python's JournalHandler sends, and the record's
    own upper-case attributes (MESSAGE_ID, MEMMOND_*)."""
    fields = {
        "MESSAGE": message,
        "PRIORITY": _PRIORITIES.get(record.levelno, "6"),
        "SYSLOG_IDENTIFIER": IDENTIFIER,
        "LOGGER": record.name,
        "THREAD_NAME": record.threadName or "",
        "CODE_FILE": record.pathname,
        "CODE_LINE": str(record.lineno),
        "CODE_FUNC": record.funcName,
    }
    if record.exc_text:
        fields["EXCEPTION_TEXT"] = record.exc_text
    for key, value in record.__dict__.items():
        if _JOURNAL_FIELD.match(key):
            fields[key] = str(value)
    return fields


def encode_entry(fields: dict[str, str]) -> bytes:
    """journald's native protocol: KEY=value lines; a value with a newline as KEY, a little-endian 64-bit
    length and the raw bytes (systemd.io/JOURNAL_NATIVE_PROTOCOL)."""
    parts = []
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            parts.append(key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            parts.append(key.encode() + b"=" + data + b"\n")
    return b"".join(parts)


class JournalHandler(logging.Handler):
    """Entries straight to journald's socket, without systemd-python's journal module (1.1 MB of RSS for
    uuid, datetime and the reader; the budget is 25 MB). When journald is gone (no socket: libsystemd
    would drop the entry silently; a stale socket: connection refused) it writes to stderr instead, says
    so once, and tries the journal again every minute."""

    def __init__(self) -> None:
        super().__init__()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.failed_at: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            fields = journal_fields(record, message)
        except Exception:
            self.handleError(record)
            return
        now = time.monotonic()
        if self.failed_at is not None and now - self.failed_at < RETRY_JOURNAL_SECONDS:
            _stderr(message, fields)
            return
        try:
            entry = encode_entry(fields)
            if len(entry) > MAX_DATAGRAM:
                fields["MESSAGE"] = fields["MESSAGE"][: MAX_DATAGRAM // 2] + " [cut]"
                entry = encode_entry(fields)
            self.sock.sendto(entry, JOURNAL_SOCKET)
        except OSError as exc:
            if self.failed_at is None:
                reason = f"no socket at {JOURNAL_SOCKET}" if isinstance(exc, FileNotFoundError) else exc
                sys.stderr.write(
                    f"memmond: journald is unreachable ({exc.__class__.__name__}: {reason}); "
                    f"logging to stderr, retrying every {RETRY_JOURNAL_SECONDS:g} s\n"
                )
            self.failed_at = now
            _stderr(message, fields)
            return
        if self.failed_at is not None:
            self.failed_at = None
            with contextlib.suppress(OSError):
                self.sock.sendto(
                    encode_entry(
                        {
                            "MESSAGE": "journald reachable again; logging to the journal",
                            "PRIORITY": "5",
                            "SYSLOG_IDENTIFIER": IDENTIFIER,
                            "MEMMOND_EVENT": "journal_reachable",
                        }
                    ),
                    JOURNAL_SOCKET,
                )

    def close(self) -> None:
        self.sock.close()
        super().close()


def _stderr(message: str, fields: dict[str, str]) -> None:
    extras = event_fields_text(fields)
    sys.stderr.write(f"memmond: {message}" + (f" [{extras}]" if extras else "") + "\n")
    sys.stderr.flush()


def under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def setup(level: str, target: str) -> str:
    """Configure the 'memmond' logger; returns the target chosen ('journal' or 'stderr')."""
    chosen = target
    if target == "auto":
        chosen = "journal" if under_systemd() else "stderr"
    handler: logging.Handler
    if chosen == "journal":
        handler = JournalHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(StderrFormatter())
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(LEVELS[level])
    return chosen


def set_level(level: str) -> None:
    log.setLevel(LEVELS[level])
