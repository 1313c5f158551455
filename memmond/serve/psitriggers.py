"""PSI triggers in the daemon's event loop: a memory stall wakes memmond within milliseconds, not at the
next sample.

Each configured trigger is armed on its own descriptor and polled for EPOLLPRI. The kernel may refuse:
a window that is not a whole multiple of 2 s without CAP_SYS_RESOURCE (then the nearest allowed window
is used and the log says so once), no PSI at all, a cgroup that does not exist (yet). A trigger the
kernel will not arm is watched by polling instead: at every sample (machine-wide) or cgroup walk
(per cgroup), the stall total's growth over the window is compared with the threshold, and
`memmond_psi_triggers{mode="polling"}` says so.

A trigger fires only when the stall total really grew since the last time it fired (or since it was
armed): the kernel may report an event right after arming, from stall time before the trigger existed.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from memmond.config import PsiTriggerConfig
from memmond.serve.loop import PRIORITY, Loop
from memmond.sources import psi_trigger
from memmond.sources.psi_trigger import TriggerRefused, TriggerSpec

log = logging.getLogger("memmond")
MACHINE = "/"  # the cgroup label of a machine-wide trigger


@dataclass(frozen=True)
class StallEvent:
    """One crossing of a trigger's threshold."""

    kind: str
    cgroup: str  # "/" for the whole machine
    stall_seconds: float  # the configured threshold
    window_seconds: float  # the window in use (after rounding)
    total_seconds: float  # the stall total when it fired
    grown_seconds: float  # how much it grew since the trigger last fired (or was armed)
    mode: str  # "kernel" (a trigger woke us) or "polling"
    monotonic: float


@dataclass
class _Trigger:
    config: PsiTriggerConfig
    spec: TriggerSpec
    window_us: int  # the window the kernel took (or the polling window)
    fd: int | None = None
    refused: str | None = None  # why the kernel would not arm it (then it is polled)
    last_total: float | None = None
    last_fired: float = float("-inf")
    polled: list[tuple[float, float]] = field(default_factory=list)  # (time, total) for polling

    @property
    def cgroup(self) -> str:
        return self.config.cgroup or MACHINE


def _spec(config: PsiTriggerConfig) -> TriggerSpec:
    return TriggerSpec(
        config.kind, round(config.stall_seconds * 1e6), round(config.window_seconds * 1e6), config.cgroup
    )


class PsiTriggers:
    def __init__(
        self,
        loop: Loop,
        configs: Sequence[PsiTriggerConfig],
        machine_path: str,
        cgroup_path: Callable[[str], str | None],
        on_event: Callable[[StallEvent], None],
    ) -> None:
        """`machine_path`: /proc/pressure/memory under the procfs root; `cgroup_path(path)`: a cgroup's
        memory.pressure file, or None without a cgroup tree."""
        self.loop = loop
        self.on_event = on_event
        self.events_total: dict[tuple[str, str], int] = {}  # (kind, cgroup) -> events
        self._machine_path = machine_path
        self._cgroup_path = cgroup_path
        self.triggers = [_Trigger(config, _spec(config), _spec(config).window_us) for config in configs]
        self._rounding_said = False
        for trigger in self.triggers:
            self._arm(trigger)

    # -- arming -----------------------------------------------------------------------------------------
    def _path(self, trigger: _Trigger) -> str | None:
        if trigger.config.cgroup is None:
            return self._machine_path
        return self._cgroup_path(trigger.config.cgroup)

    def _arm(self, trigger: _Trigger) -> None:
        path = self._path(trigger)
        if path is None:
            trigger.refused = f"no cgroup hierarchy with memory.pressure for {trigger.cgroup}"
            return
        spec = trigger.spec
        try:
            fd = psi_trigger.arm(path, spec)
        except TriggerRefused as exc:
            allowed = psi_trigger.unprivileged_window_us(spec.window_us)
            if exc.errno != errno.EINVAL or allowed == spec.window_us or spec.stall_us >= allowed:
                trigger.refused = exc.reason
                return
            try:
                fd = psi_trigger.arm(path, spec, allowed)
            except TriggerRefused as again:
                trigger.refused = again.reason
                return
            if not self._rounding_said:
                self._rounding_said = True
                log.info(
                    "PSI trigger windows: the kernel takes only whole multiples of 2 s without "
                    "CAP_SYS_RESOURCE; %s: %g s used instead of %g s",
                    spec.text,
                    allowed / 1e6,
                    spec.window_us / 1e6,
                )
            trigger.window_us = allowed
        try:
            self.loop.add(fd, PRIORITY, lambda events, t=trigger: self._on_ready(t, events))
        except OSError as exc:
            os.close(fd)
            trigger.refused = f"cannot poll {path}: {exc.strerror or exc}"
            return
        trigger.fd, trigger.refused = fd, None
        trigger.last_total = psi_trigger.stall_seconds(fd, spec.kind)

    def retry_cgroups(self) -> None:
        """After a cgroup walk: cgroup triggers whose cgroup was missing may be armed now."""
        for trigger in self.triggers:
            if trigger.fd is None and trigger.config.cgroup is not None:
                path = self._path(trigger)
                if path is not None and os.path.exists(path):
                    self._arm(trigger)

    def describe(self) -> list[str]:
        """One line a trigger for the start log."""
        lines = []
        for trigger in self.triggers:
            where = f"cgroup {trigger.cgroup}" if trigger.config.cgroup else "the machine"
            what = f"{trigger.spec.kind} {trigger.config.stall_seconds * 1000:g} ms in {trigger.window_us / 1e6:g} s"
            state = "armed" if trigger.fd is not None else f"polled ({trigger.refused})"
            lines.append(f"{what} on {where}: {state}")
        return lines

    @property
    def polled(self) -> bool:
        """Some trigger is watched by polling (else the samples need not look at the stall totals)."""
        return any(t.fd is None for t in self.triggers)

    def modes(self) -> dict[str, int]:
        armed = sum(1 for t in self.triggers if t.fd is not None)
        return {"kernel": armed, "polling": len(self.triggers) - armed}

    # -- events -----------------------------------------------------------------------------------------
    def _on_ready(self, trigger: _Trigger, events: int) -> None:
        fd = trigger.fd
        if fd is None:
            return
        # A removed cgroup reports POLLERR or POLLHUP (with POLLPRI too, for as long as the descriptor is
        # open: level-triggered, it would wake the loop forever) and its file no longer reads.
        total = psi_trigger.stall_seconds(fd, trigger.spec.kind)
        if events & (select.EPOLLERR | select.EPOLLHUP) or total is None:
            self._disarm(trigger, f"{trigger.cgroup} was removed")
            return
        self._fire(trigger, total, "kernel", time.monotonic())

    def _fire(self, trigger: _Trigger, total: float, mode: str, now: float) -> None:
        grown = total - trigger.last_total if trigger.last_total is not None else total
        trigger.last_total = total
        if grown <= 0:  # the kernel's first report may come from stall time before the trigger was armed
            return
        trigger.last_fired = now
        key = (trigger.spec.kind, trigger.cgroup)
        self.events_total[key] = self.events_total.get(key, 0) + 1
        self.on_event(
            StallEvent(
                trigger.spec.kind,
                trigger.cgroup,
                trigger.config.stall_seconds,
                trigger.window_us / 1e6,
                total,
                grown,
                mode,
                now,
            )
        )

    def _disarm(self, trigger: _Trigger, reason: str) -> None:
        if trigger.fd is not None:
            self.loop.remove(trigger.fd)
            os.close(trigger.fd)
            trigger.fd = None
        trigger.refused = reason
        trigger.polled.clear()
        log.info("PSI trigger on %s: %s; polled until it can be armed again", trigger.cgroup, reason)

    def poll(self, now: float, totals: Callable[[_Trigger], float | None]) -> None:
        """The fallback: for every trigger the kernel would not arm, fire when the stall total grew by the
        threshold within the window (at most once a window). `totals` gives a trigger's current total
        (from the sample or cgroup walk just taken), or None when there is none."""
        for trigger in self.triggers:
            if trigger.fd is not None:
                continue
            total = totals(trigger)
            if total is None:
                continue
            window = trigger.window_us / 1e6
            points = trigger.polled
            points.append((now, total))
            while len(points) > 1 and points[1][0] <= now - window:
                points.pop(0)
            if trigger.last_total is None:
                trigger.last_total = total
            if total - points[0][1] >= trigger.config.stall_seconds and now - trigger.last_fired >= window:
                self._fire(trigger, total, "polling", now)

    def close(self) -> None:
        for trigger in self.triggers:
            if trigger.fd is not None:
                self.loop.remove(trigger.fd)
                os.close(trigger.fd)
                trigger.fd = None
