"""The systemd notify protocol (sd_notify) through systemd-python. Every call is a no-op outside systemd
(no NOTIFY_SOCKET), so the daemon code states what happens without asking where it runs.
"""

from __future__ import annotations

import os
import time

from systemd import daemon as sd_daemon


class Notifier:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self.watchdog_seconds: float | None = None
        usec = os.environ.get("WATCHDOG_USEC")
        watchdog_pid = os.environ.get("WATCHDOG_PID")
        # WATCHDOG_PID, when set, names the process systemd expects pings from; a child must not ping.
        if usec and usec.isdigit() and int(usec) > 0 and (not watchdog_pid or watchdog_pid == str(os.getpid())):
            self.watchdog_seconds = int(usec) / 1_000_000

    def _send(self, state: str) -> None:
        if self.enabled:
            sd_daemon.notify(state)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def watchdog(self) -> None:
        if self.watchdog_seconds is not None:
            self._send("WATCHDOG=1")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets Type=notify-reload (systemd 253+) match this reload to its request.
        self._send(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def reloaded(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def stopping(self) -> None:
        self._send("STOPPING=1\nSTATUS=stopping")
