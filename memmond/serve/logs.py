"""Logging: journald with structured fields under systemd, plain lines on stderr otherwise.

Events carry `MEMMOND_EVENT` and a stable `MESSAGE_ID` per event type, so operators can
`journalctl MESSAGE_ID=...` or `journalctl -u memmond MEMMOND_EVENT=reload_failed` across versions.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Any

from systemd import journal

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


class StderrFormatter(logging.Formatter):
    """'2026-11-25T04:19:00Z warning memmond: message [key=value ...]'."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        fields = " ".join(
            f"{key[len('MEMMOND_') :].lower()}={value}"
            for key, value in record.__dict__.items()
            if key.startswith("MEMMOND_") and key != "MEMMOND_EVENT"
        )
        text = f"{stamp} {record.levelname.lower()} memmond: {record.getMessage()}"
        if fields:
            text += f" [{fields}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _JournalSender:
    """journal.send, falling back to stderr when journald is gone (a stale socket raises
    ConnectionRefusedError) instead of taking the daemon with it. Says so once, retries every minute."""

    def __init__(self) -> None:
        self.failed_at: float | None = None

    def __call__(self, message: str, /, **record_fields: Any) -> None:
        # JournalHandler hands over the whole LogRecord __dict__; journald only takes upper-case names.
        fields = {k: v for k, v in record_fields.items() if _JOURNAL_FIELD.match(k)}
        now = time.monotonic()
        if self.failed_at is not None and now - self.failed_at < RETRY_JOURNAL_SECONDS:
            self._stderr(message, fields)
            return
        try:
            if not os.path.exists(JOURNAL_SOCKET):
                # libsystemd drops messages silently when the socket is missing (ENOENT): say so instead.
                raise FileNotFoundError(f"no socket at {JOURNAL_SOCKET}")
            journal.send(message, **fields)
        except OSError as exc:
            if self.failed_at is None:
                sys.stderr.write(
                    f"memmond: journald is unreachable ({exc.__class__.__name__}: {exc}); "
                    f"logging to stderr, retrying every {RETRY_JOURNAL_SECONDS:g} s\n"
                )
            self.failed_at = now
            self._stderr(message, fields)
        else:
            if self.failed_at is not None:
                self.failed_at = None
                journal.send(
                    "journald reachable again; logging to the journal",
                    SYSLOG_IDENTIFIER=IDENTIFIER,
                    PRIORITY="5",
                    MEMMOND_EVENT="journal_reachable",
                )

    @staticmethod
    def _stderr(message: str, fields: dict[str, Any]) -> None:
        extras = " ".join(
            f"{k[8:].lower()}={v}" for k, v in fields.items() if k.startswith("MEMMOND_") and k != "MEMMOND_EVENT"
        )
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
        handler = journal.JournalHandler(SYSLOG_IDENTIFIER=IDENTIFIER, sender_function=_JournalSender())
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(StderrFormatter())
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(LEVELS[level])
    return chosen


def set_level(level: str) -> None:
    log.setLevel(LEVELS[level])
