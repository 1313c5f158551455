"""The daemon's one event loop: sockets, timers and signals on a single thread, over epoll.

Why one thread: the sampler and the HTTP server used to run in threads of their own, and under a flood of
scrapes the sampler waited for the GIL (jitter of 12-50 ms). Here nothing runs beside it: a due timer
runs between any two I/O callbacks, so a sample starts at most one callback late, and every callback is
short (answering a scrape sends bytes rendered once per sample).

Why not asyncio: it adds 9 MB of RSS to a daemon whose budget is 25 MB, and its loop runs a whole batch
of ready I/O callbacks before it looks at timers again. The daemon needs a few dozen lines of it:
file-descriptor callbacks with any epoll mask (PSI triggers need EPOLLPRI), timers, a thread-safe wake-up
and signals through `signal.set_wakeup_fd`.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import logging
import os
import select
import signal
import time
from collections.abc import Callable

log = logging.getLogger("memmond.loop")

READ = select.EPOLLIN
WRITE = select.EPOLLOUT
PRIORITY = select.EPOLLPRI
MAX_EVENTS = 256


class Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[int], None]] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._soon: collections.deque[Callable[[], None]] = collections.deque()
        self._running = False
        self._signals_installed = False
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.add(self._wake_read, READ, self._on_wake)

    # -- file descriptors -------------------------------------------------------------------------------
    def add(self, fd: int, events: int, callback: Callable[[int], None]) -> None:
        """Call `callback(events)` whenever `fd` is ready for `events` (level-triggered)."""
        self._epoll.register(fd, events)
        self._callbacks[fd] = callback

    def modify(self, fd: int, events: int) -> None:
        self._epoll.modify(fd, events)

    def remove(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):  # closed already: the kernel dropped it with the fd
                self._epoll.unregister(fd)

    # -- timers and callbacks ---------------------------------------------------------------------------
    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` once at time.monotonic() `when` (or as soon after as the loop gets there)."""
        timer = Timer(when, callback)
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        return timer

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """From another thread (or a signal handler): run `callback` on the loop's thread, soon."""
        self._soon.append(callback)
        with contextlib.suppress(BlockingIOError):  # the pipe is full of wake-ups already: the loop will wake
            os.write(self._wake_write, b"\0")

    def install_signal_wakeup(self) -> None:
        """Signals interrupt epoll at once: their Python handlers set flags, the byte wakes the loop."""
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        self._signals_installed = True

    def _on_wake(self, events: int) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        while self._soon:
            self._soon.popleft()()

    def _run_due_timers(self) -> float:
        """Run the timers due now; the seconds until the next one (-1: none). A timer a callback sets for a
        time already past runs on the next turn, after the loop has looked at its sockets: an overrunning
        sampler cannot starve the server."""
        timers = self._timers
        now = time.monotonic()
        due = []
        while timers and timers[0][0] <= now:
            due.append(heapq.heappop(timers)[2])
        for timer in due:
            if not timer.cancelled:
                self._guarded(timer.callback)
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if not timers:
            return -1.0
        return max(0.0, timers[0][0] - time.monotonic())

    @staticmethod
    def _guarded(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("error in the event loop (the loop goes on)")

    # -- running ----------------------------------------------------------------------------------------
    def run(self) -> None:
        """Until stop(). Due timers run before and between I/O callbacks, never behind a whole batch."""
        self._running = True
        callbacks, timers = self._callbacks, self._timers
        while self._running:
            timeout = self._run_due_timers()
            if not self._running:
                break
            if self._soon:
                timeout = 0.0
            try:
                events = self._epoll.poll(timeout, MAX_EVENTS)
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for older kernels' quirks
                continue
            for fd, mask in events:
                if timers and timers[0][0] <= time.monotonic():
                    self._run_due_timers()
                callback = callbacks.get(fd)
                if callback is not None:
                    try:
                        callback(mask)
                    except Exception:
                        log.exception("error handling fd %d (the loop goes on)", fd)
            if self._soon:
                self._on_wake(0)

    def stop(self) -> None:
        self._running = False
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"\0")

    def close(self) -> None:
        if self._signals_installed:
            signal.set_wakeup_fd(-1)
        self._epoll.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
