"""PSI triggers (Documentation/accounting/psi.rst): the kernel itself says the moment memory stalls.

Writing "<some|full> <stall us> <window us>" to a pressure file (/proc/pressure/memory, or a cgroup's
memory.pressure) opened O_RDWR|O_NONBLOCK arms one trigger on that descriptor; from then on poll(2)
reports POLLPRI whenever tasks stalled at least `stall` within a `window` (at most once a window), and
POLLERR when the cgroup is removed. Windows run from 500 ms to 10 s; without CAP_SYS_RESOURCE the kernel
(6.5+) takes only whole multiples of 2 s, and refuses others with EINVAL.

This module arms and reads; the daemon's loop polls the descriptors.
"""

from __future__ import annotations

import errno
import os
import select
from dataclasses import dataclass

from memmond.sources import pressure
from memmond.sources.procfs import SourceError

MIN_WINDOW_US = 500_000
MAX_WINDOW_US = 10_000_000
UNPRIVILEGED_STEP_US = 2_000_000  # an unprivileged window is a whole multiple of this


@dataclass(frozen=True)
class TriggerSpec:
    """One trigger as configured. `cgroup` is a cgroup path ("/system.slice/nginx.service") or None for
    the whole machine."""

    kind: str  # "some" or "full"
    stall_us: int
    window_us: int
    cgroup: str | None = None

    @property
    def text(self) -> str:
        return f"{self.kind} {self.stall_us} {self.window_us}"


class TriggerRefused(Exception):
    """The kernel would not arm the trigger; `reason` says why in words, `errno` as the kernel said it."""

    def __init__(self, reason: str, error: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errno = error


def unprivileged_window_us(window_us: int) -> int:
    """The nearest window an unprivileged process may use: a whole multiple of 2 s, from 2 s to 10 s."""
    steps = max(1, round(window_us / UNPRIVILEGED_STEP_US))
    return min(MAX_WINDOW_US, steps * UNPRIVILEGED_STEP_US)


def arm(path: str, spec: TriggerSpec, window_us: int | None = None) -> int:
    """A descriptor with the trigger armed (the caller closes it), or TriggerRefused."""
    window = spec.window_us if window_us is None else window_us
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TriggerRefused(f"{path} does not exist (no PSI, or no such cgroup)", errno.ENOENT) from None
    except OSError as exc:
        raise TriggerRefused(f"cannot open {path} for writing: {exc.strerror or exc}", exc.errno) from None
    try:
        # A kernel pressure file can be polled; a plain file (a captured tree, --procfs DIR) cannot, and
        # must not be written to: epoll refuses regular files with EPERM.
        probe = select.epoll()
        try:
            probe.register(fd, select.EPOLLPRI)
        finally:
            probe.close()
    except OSError:
        os.close(fd)
        raise TriggerRefused(f"{path} is not a kernel pressure file (it cannot be polled)", errno.EPERM) from None
    try:
        # psi.rst writes the terminating NUL too; the kernel takes the text either way.
        os.write(fd, f"{spec.kind} {spec.stall_us} {window}".encode() + b"\0")
    except OSError as exc:
        os.close(fd)
        what = {
            errno.EINVAL: "the kernel refused the values",
            errno.EOPNOTSUPP: "PSI is disabled (psi=0)",
            errno.EPERM: "not permitted",
            errno.EBUSY: "a trigger is already armed on this descriptor",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        raise TriggerRefused(f"{path}: '{spec.kind} {spec.stall_us} {window}': {what}", exc.errno) from None
    return fd


def stall_seconds(fd: int, kind: str) -> float | None:
    """The stall total of `kind` read through the trigger's own descriptor (a read from offset 0 shows the
    pressure file as usual); None when it cannot be read or parsed."""
    try:
        text = os.pread(fd, 4096, 0).decode("ascii", "replace")
    except OSError:
        return None
    try:
        line = pressure.parse(text).line(kind)
    except SourceError:
        return None
    return None if line is None else line.total_seconds
