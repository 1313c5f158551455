"""`memmond run`: wiring of config, sampler, history, exposition, HTTP, systemd and signals.

One thread (the main one) samples on a monotonic schedule and owns all mutable state. It publishes an
immutable `Published` per sample by reference assignment; HTTP threads only read that reference.
Signal handlers only set flags; the loop acts on them between samples.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from memmond import __version__
from memmond import config as config_mod
from memmond import format as fmt
from memmond.config import LEVELS, Config, ConfigError, Listen
from memmond.model import cgroups, system, trend, watch
from memmond.model import recorder as recorder_mod
from memmond.model.history import Extremes, History
from memmond.model.recorder import EventRecord, FlightRecorder
from memmond.model.snapshot import OLD_SAMPLE_MEMINFO, Sampler, Snapshot
from memmond.rules import ruleset
from memmond.rules.engine import FIRING, Engine, Transition
from memmond.rules.levels import PressureTracker
from memmond.serve import logs
from memmond.serve.events import Events, EventStore
from memmond.serve.exposition import Published, RuleStatus, SelfStats
from memmond.serve.http import HttpServer
from memmond.serve.kernellog import JournalKernelLog, KernelLog
from memmond.serve.loop import Loop, Timer
from memmond.serve.notify import Notifier
from memmond.serve.psitriggers import MACHINE, PsiTriggers, StallEvent
from memmond.sources import cgroup as cgroup_source
from memmond.sources.kmsg import OomKill
from memmond.sources.pressure import StallLine
from memmond.sources.procfs import ProcFS

if TYPE_CHECKING:  # ssl, bcrypt and hashlib load only with a web config file
    from memmond.serve.webconfig import WebConfig

log = logging.getLogger("memmond")
# STATUS= (what `systemctl status` shows) at most this often while nothing that matters changes, and at
# once when the pressure level, the firing rules or a source's health does: each STATUS wakes systemd
# (and a D-Bus signal), and at 1 Hz it also cost memmond +45 % of its CPU (benchmarks: README).
STATUS_EVERY_SECONDS = 15.0
# For testing the systemd watchdog end to end: after this many samples the sampling loop hangs (the HTTP
# server keeps answering), as a loop stuck in a kernel read would. Never set in production.
STALL_AFTER_VARIABLE = "MEMMOND_DEBUG_STALL_AFTER_SAMPLES"
STALL_LOG_EVERY_SECONDS = 60.0
OOM_KEPT = 100  # kills /api/v1/oom keeps
SYSTEM_SETTINGS_EVERY = 20  # THP modes and zswap parameters: read every 20th system sample (5 min at 15 s)
MAX_OOM_CGROUPS = 100  # cgroups memmond_oom_kills_total keeps apart; more are counted as "other"
OTHER_CGROUP = "other"
_SEVERITY_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Command-line settings that win over the config file, on start and on every reload."""

    listen: Listen | None = None
    log_level: str | None = None
    log_target: str | None = None

    def apply(self, cfg: Config) -> Config:
        changes = {}
        if self.listen is not None:
            changes["listen"] = self.listen
        if self.log_level is not None:
            changes["log_level"] = self.log_level
        if self.log_target is not None:
            changes["log_target"] = self.log_target
        return dataclasses.replace(cfg, **changes)


def status_line(snap: Snapshot, level: str | None = None, firing: tuple[str, ...] = ()) -> str:
    """The short live summary for `systemctl status` (STATUS=)."""
    parts = [f"pressure {level}"] if level else []
    total, available = snap.mem_total, snap.mem_available
    if total and available is not None:
        parts.append(f"available {fmt.iec(available)} of {fmt.iec(total)} ({fmt.percent(available / total)})")
    page_cache = snap.derived().get("page_cache")
    if page_cache is not None:
        parts.append(f"page cache {fmt.iec(page_cache)}")
    if snap.pressure is not None and snap.pressure.some is not None:
        parts.append(f"PSI some {fmt.percent(snap.pressure.some.avg10, 2)}")
    if firing:
        parts.append("firing: " + ", ".join(firing))
    if snap.errors:
        parts.append("down: " + ", ".join(sorted(snap.errors)))
    return "; ".join(parts) or "no data"


class Daemon:
    def __init__(
        self,
        cfg: Config,
        config_path: str | None,
        overrides: Overrides,
        procfs: ProcFS,
        rules: ruleset.Ruleset,
        web: WebConfig | None = None,
        web_config_path: str | None = None,
        cgroup_roots: list[str] | None = None,
        kmsg_path: str | None = "/dev/kmsg",
        journal: str | None = "auto",
        sysfs: ProcFS | None = None,
    ) -> None:
        self.web = web
        self.web_config_path = web_config_path
        self.config = cfg
        self.config_path = config_path
        self.overrides = overrides
        self.procfs = procfs
        self.sysfs = sysfs or ProcFS("/sys")
        self._system: system.SystemSample | None = None
        self._next_system = 0.0
        self._system_errors: dict[str, int] = {}
        self._system_count = 0
        self.sampler = Sampler(procfs, self.sysfs)
        self.ruleset = rules
        self.engine = Engine(rules.rules, rules.vocabulary)
        self.tracker = PressureTracker(cfg.levels)
        self.history = History(cfg.history_size)
        self._thin_history(cfg, rules)
        self.extremes = Extremes(cfg.extremes_window_seconds)
        self.stats = SelfStats(config_reload_success_time=time.time())
        self.notifier = Notifier()
        self._newest: Snapshot | None = None
        self._rate_base: Snapshot | None = None
        self._published: Published | None = None  # see `latest`; replaced, never mutated
        self._stop = False
        self._reload = False
        self._loop = Loop()
        self._statuses: tuple[RuleStatus, ...] | None = None
        self.cgroup_roots = cgroup_roots
        self._cgroup_tree: cgroup_source.Tree | None = None
        self._cgroup_tree_found = False
        self._cgroups: cgroups.CgroupSample | None = None
        self._next_cgroups = 0.0
        self.kmsg_path = kmsg_path
        self.journal = journal  # "auto": the system journal when /dev/kmsg is not readable; a directory; None
        self._kernel_log: KernelLog | JournalKernelLog | None = None
        self._triggers: PsiTriggers | None = None
        self._recorder: FlightRecorder | None = None
        self._events: Events | None = None
        self._event_store: EventStore | None = None
        self._event_cgroups: tuple[object, ...] = ()  # the cgroup walk when the open event began
        self._fast = False
        self._recorder_timer: Timer | None = None
        self._stall_said: dict[tuple[str, str], tuple[float, int]] = {}  # (kind, cgroup) -> (last logged, fires since)
        self._oom_kills: dict[tuple[str, str], int] = {}  # (cgroup, unit) -> kills seen in the kernel log
        self._oom_recent: collections.deque[dict[str, object]] = collections.deque(maxlen=OOM_KEPT)
        self._statuses_key: object = ()
        self._sample_timer: Timer | None = None
        self._next_due = 0.0
        self._down_sources: set[str] = set()
        self._last_status = 0.0
        self._status_key: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None  # _status_now()
        self._last_watchdog = 0.0
        self._files: tuple[watch.FileSample, ...] = ()
        self._processes: tuple[watch.ProcessSample, ...] = ()
        self._next_watch = 0.0
        self._server: HttpServer | None = None
        self._rate_window: collections.deque[Snapshot] = collections.deque()
        stall = os.environ.get(STALL_AFTER_VARIABLE, "")
        self._stall_after = int(stall) if stall.isdigit() else None
        self._level_changes: collections.deque[trend.LevelChange] = collections.deque(maxlen=100)

    # -- signals ------------------------------------------------------------------------------------------
    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True
        self._loop.call_soon_threadsafe(self._on_signal)

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self._reload = True
        self._loop.call_soon_threadsafe(self._on_signal)

    # -- one sample ---------------------------------------------------------------------------------------
    def _thin_history(self, cfg: Config, rules: ruleset.Ruleset) -> None:
        """What an old sample keeps: the fields the rules, the derived values, the trend API and the
        extremes read of old samples (sample_once says when a sample is old)."""
        self.history.thin(OLD_SAMPLE_MEMINFO | rules.meminfo_fields(), rules.vmstat_fields())

    def sample_once(self) -> Snapshot:
        snap = self.sampler.capture()
        if self._triggers is not None and self._triggers.polled and snap.pressure is not None:
            pressure = snap.pressure
            self._triggers.poll(
                snap.monotonic,
                lambda t: None if t.config.cgroup is not None else _stall_total(pressure.line(t.spec.kind)),
            )
        if self._newest is not None:
            self._newest.forget_derived()  # 0.8 MB over a full history; all but the newest rarely read
        self.history.append(snap)
        self.extremes.add(snap)
        self.stats.observe(snap)
        self._log_source_changes(snap)
        transitions = self.engine.evaluate(
            self.history.samples, self.config.interval_seconds, self._cgroups, self._cgroup_interval()
        )
        for transition in transitions:
            self._log_transition(transition)
            if transition.state == FIRING and transition.rule.record:
                self._event_trigger("rule", {"rule": transition.rule.name, "cgroup": transition.cgroup or None})
        change = self.tracker.update(snap)
        if change is not None:
            self.stats.level_changes_total[change.level] += 1
            self._level_changes.append(trend.LevelChange(snap.wall_time, change.previous, change.level))
            worse = LEVELS.index(change.level) > LEVELS.index(change.previous)
            if change.level == "critical":
                self._event_trigger("pressure_critical", {"reason": change.reason})
            level = logging.WARNING if worse and change.level in ("high", "critical") else logging.INFO
            logs.event(
                level,
                "pressure_level",
                "memory pressure %s -> %s: %s",
                change.previous,
                change.level,
                change.reason,
                level=change.level,
                previous=change.previous,
                reason=change.reason,
            )
        window = self._rate_window
        window.append(snap)
        while len(window) > 1 and window[1].monotonic <= snap.monotonic - self.config.extremes_window_seconds:
            window.popleft()
        self._newest = snap
        self._rate_base = window[0]
        self.history.thin_before(self._read_whole_since(window[0].monotonic, snap.monotonic))
        self._published = None  # built when something reads it: a scrape every 15 s, not every sample
        return snap

    def _read_whole_since(self, rate_base: float, now: float) -> float:
        """The oldest time whose samples something may still read whole: the rate base, and the flight
        recorder's seconds before an event, which is built when it closes (up to MAX_EVENT_SECONDS after
        it opened) from the samples since its start minus those seconds; one not opened yet starts now
        or later. Older samples keep only what the rules, the derived values and the trend read."""
        before = self.config.events.recorder_seconds
        opened = self._events.open if self._events is not None else None
        started = opened.started_monotonic if opened is not None else now
        return min(rate_base, started - before)

    @property
    def latest(self) -> Published | None:
        """What the newest sample exposes, made when first read after it (by a scrape, an API call, the
        status line): the loop's one thread both samples and serves, so the state it is made from
        cannot change under it, and samples nobody reads cost nothing to publish."""
        if self._published is None and self._newest is not None:
            self._published = Published(
                snapshot=self._newest,
                rate_base=self._rate_base,
                history=self.history,
                level_changes=tuple(self._level_changes),
                extremes=self.extremes.values(),
                extremes_window_seconds=self.extremes.window,
                interval_seconds=self.config.interval_seconds,
                stats=self.stats.copy(),
                rules=self._rule_statuses(),
                files=self._files,
                processes=self._processes,
                watch_interval_seconds=self.config.watch_interval_seconds,
                pressure_level=self.tracker.level,
                tunables=self.ruleset.tunables,
                vmstat_all=self.config.vmstat_exported == "all",
                families_off=self.config.families_off,
                cgroups=self._cgroups,
                cgroup_detail=self.config.cgroups.detail,
                oom_kills=dict(self._oom_kills),
                oom_recent=tuple(self._oom_recent),
                oom_victims_readable=self._kernel_log is not None and self._kernel_log.fd is not None,
                psi_trigger_modes=self._triggers.modes() if self._triggers is not None else {},
                psi_trigger_events=dict(self._triggers.events_total) if self._triggers is not None else {},
                events_total=dict(self._events.events_total) if self._events is not None else {},
                event_store=self._event_store,
                system=self._system,
                system_interval_seconds=self.config.system.interval_seconds,
                system_errors_total=dict(self._system_errors),
            )
        return self._published

    def _cgroup_interval(self) -> float:
        return max(1.0, self.config.cgroups.interval_seconds or self.config.interval_seconds)

    def sample_cgroups(self, now: float) -> None:
        """The cgroup walk, at its own interval (default: every sample, at least 1 s apart); the next
        sample publishes it."""
        settings = self.config.cgroups
        if not settings.enabled:
            self._cgroups = None
            return
        if now < self._next_cgroups:
            return
        self._next_cgroups = now + self._cgroup_interval()
        if not self._cgroup_tree_found:
            self._cgroup_tree_found = True
            self._cgroup_tree = cgroup_source.discover(self.procfs, self.cgroup_roots, keep_open=True)
            if self._cgroup_tree is None:
                log.info("cgroups: no cgroup hierarchy with memory figures found; per-cgroup metrics are off")
            else:
                tree = self._cgroup_tree
                log.info(
                    "cgroups: cgroup v%d memory at %s%s",
                    tree.memory.version,
                    tree.memory.root,
                    f", pressure from {tree.pressure_root}" if tree.memory.version == 1 and tree.pressure_root else "",
                )
        if self._cgroup_tree is None:
            return
        selection = cgroup_source.Selection(settings.max_depth, settings.include, settings.exclude)
        self._cgroups = cgroups.sample(
            self._cgroup_tree, selection, settings.max_cgroups, everything=settings.detail == "full"
        )
        if self._triggers is not None:
            self._triggers.retry_cgroups()
            by_path = {c.path: c.pressure for c in self._cgroups.cgroups if c.pressure is not None}
            self._triggers.poll(
                self._cgroups.monotonic,
                lambda t: (
                    None
                    if t.config.cgroup is None or t.config.cgroup not in by_path
                    else _stall_total(by_path[t.config.cgroup].line(t.spec.kind))
                ),
            )

    def _on_oom_kill(self, kill: OomKill) -> None:
        """An OOM kill from the kernel log: counted by cgroup (even one already removed), kept for
        /api/v1/oom, and logged as an event of its own."""
        unit = cgroup_source.unit_of(kill.cgroup)
        key = (kill.cgroup, unit)
        if key not in self._oom_kills and len(self._oom_kills) >= MAX_OOM_CGROUPS:
            key = (OTHER_CGROUP, "")  # a bounded label set, whatever a fork bomb of cgroups does
        self._oom_kills[key] = self._oom_kills.get(key, 0) + 1
        self._oom_recent.append({"time": time.time(), "unit": unit, **kill.to_dict()})
        self._event_trigger("oom_kill", {"pid": kill.pid, "command": kill.command, "cgroup": kill.cgroup})
        rss = f", rss {fmt.iec(kill.rss_bytes)}" if kill.rss_bytes is not None else ""
        where = "the whole machine" if kill.oom_cgroup is None else f"the limit of {kill.oom_cgroup}"
        logs.event(
            logging.WARNING,
            "oom_kill",
            "OOM killer killed %s (pid %d) in %s%s; out of memory: %s",
            kill.command,
            kill.pid,
            kill.cgroup,
            rss,
            where,
            oom_pid=kill.pid,
            oom_comm=kill.command,
            oom_cgroup=kill.cgroup,
            oom_unit=unit,
            oom_constraint=kill.constraint,
            oom_rss=kill.rss_bytes if kill.rss_bytes is not None else "",
        )
        self._published = None  # the next read shows the kill

    def sample_system(self, now: float) -> None:
        """NUMA, huge pages, THP, KSM, zram, zswap and the ARC, at system.interval; the next sample
        publishes them. A source that fails counts an error and the others still come."""
        settings = self.config.system
        if not settings.enabled:
            self._system = None
            return
        if now < self._next_system:
            return
        self._next_system = now + settings.interval_seconds
        self._system_count += 1
        self._system = system.sample(
            self.procfs,
            self.sysfs,
            previous=self._system,
            settings=self._system_count % SYSTEM_SETTINGS_EVERY == 1,
            one_node=False,
        )
        for source in self._system.errors:
            self._system_errors[source] = self._system_errors.get(source, 0) + 1

    def sample_watched(self, now: float) -> None:
        """Watched files and processes, when their (slower) interval is due; the next sample publishes them."""
        if now < self._next_watch or not (self.config.watch_files or self.config.watch_processes):
            return
        self._next_watch = now + self.config.watch_interval_seconds
        self._files = tuple(watch.sample_file(path) for path in self.config.watch_files)
        self._processes = tuple(watch.sample_process(self.procfs, w) for w in self.config.watch_processes)

    def _rule_statuses(self) -> tuple[RuleStatus, ...]:
        """A copy of the engine's rule states, made again only when one changed (rarely: a sample in
        a thousand), not sixteen new objects every sample."""
        engine = self.engine
        states = engine.states
        key = (
            tuple((state.state, state.events_total, state.since) for state in states.values()),
            tuple(tuple(engine.firing_cgroups(name)) for name in engine.cgroup_states),
        )
        if self._statuses is not None and key == self._statuses_key:
            return self._statuses
        self._statuses_key = key
        self._statuses = tuple(
            RuleStatus(
                r.name,
                r.severity,
                r.origin,
                r.labels,
                states[r.name].state,
                states[r.name].events_total,
                r.per_cgroup,
                tuple(engine.firing_cgroups(r.name)) if r.per_cgroup else (),
                states[r.name].since,
                states[r.name].fired_summary,
            )
            for r in engine.rules
        )
        return self._statuses

    def _log_transition(self, transition: Transition) -> None:
        rule = transition.rule
        if transition.state == FIRING:
            level = _SEVERITY_LOG_LEVEL[rule.severity]
        elif transition.state == "resolved":
            level = logging.INFO
        else:
            level = logging.DEBUG
        labels = {f"label_{key}": value for key, value in rule.labels}
        if transition.cgroup:
            labels.update(cgroup=transition.cgroup, unit=transition.unit)
        logs.event(
            level,
            f"rule_{transition.state}",
            "rule %s %s%s: %s",
            rule.name,
            transition.state,
            f" for {transition.cgroup}" if transition.cgroup else "",
            transition.summary,
            rule=rule.name,
            state=transition.state,
            severity=rule.severity,
            value=transition.value,
            **labels,
        )

    def _check_process_visibility(self) -> None:
        """watch.processes finds nothing when /proc hides other users' processes (the unit's
        ProtectProc=invisible, or mount option hidepid): say so once instead of reporting 0 forever."""
        if self.config.watch_processes and not self.procfs.path("1").exists():
            log.warning(
                "watch.processes: %s hides other users' processes (ProtectProc=invisible or hidepid); "
                "only memmond's own processes can be watched. Under systemd, set ProtectProc=default "
                "in a drop-in (systemctl edit memmond).",
                self.procfs.root,
            )

    def _log_skipped_rules(self) -> None:
        for name, reason in self.ruleset.skipped.items():
            log.info("built-in rule %s is not active: %s", name, reason)

    def _log_source_changes(self, snap: Snapshot) -> None:
        """One log line when a source goes down or comes back, not one per sample."""
        if not snap.errors and not self._down_sources:
            return  # every source up now and before: every sample of a healthy host
        down = set(snap.errors)
        for source in sorted(down - self._down_sources):
            level = logging.INFO if source in snap.unavailable else logging.WARNING
            logs.event(
                level,
                "source_down",
                "source %s is not available: %s",
                source,
                snap.errors[source],
                source=source,
                reason=snap.errors[source],
            )
        for source in sorted(self._down_sources - down):
            logs.event(logging.INFO, "source_up", "source %s is back", source, source=source)
        self._down_sources = down

    # -- reload -------------------------------------------------------------------------------------------
    def reload(self) -> None:
        self.notifier.reloading()
        try:
            # re-reads /proc/sys/vm too; every problem of the file in one message
            new, new_rules = ruleset.load_config(self.config_path, self.procfs, self.overrides.apply, self.sysfs)
            new_web = None
            if self.web_config_path:
                from memmond.serve import webconfig

                new_web = webconfig.load(self.web_config_path)
        except Exception as exc:  # every failure keeps the running config, not only the expected ones
            problems = exc.problems if isinstance(exc, ConfigError) else [f"{exc.__class__.__name__}: {exc}"]
            if not isinstance(exc, ConfigError):
                log.debug("reload failed unexpectedly", exc_info=True)
            self.stats.config_reload_ok = False
            self._published = None
            logs.event(
                logging.ERROR,
                "reload_failed",
                "config reload failed, keeping the running config: %s",
                "; ".join(problems),
                config=self.config_path or config_mod.EMBEDDED_NAME,
            )
            self.notifier.reloaded(f"config reload failed; {self._status()}")
            return
        if new.listen != self.config.listen:
            log.warning("listen address changes need a restart; still serving on %s", self.config.listen)
            new = dataclasses.replace(new, listen=self.config.listen)
        self.history.resize(new.history_size)
        if new.extremes_window_seconds != self.config.extremes_window_seconds:
            self.extremes = Extremes(new.extremes_window_seconds)
            for snap in self.history:
                self.extremes.add(snap)
        logs.set_level(new.log_level)
        self.web = new_web
        if self._server is not None:
            self._server.web = new_web
            self._server.limits = new.http
        self.engine.replace_rules(new_rules.rules, new_rules.vocabulary)
        self._thin_history(new, new_rules)
        self._statuses = None  # the rule set itself changed
        self.tracker.reconfigure(new.levels)
        self.ruleset = new_rules
        self._log_skipped_rules()
        if new.cgroups != self.config.cgroups:
            self._next_cgroups = 0.0  # the new selection at the next sample
        events_changed = new.events != self.config.events
        if (new.watch_files, new.watch_processes) != (self.config.watch_files, self.config.watch_processes):
            self._files, self._processes, self._next_watch = (), (), 0.0  # measure the new set at once
        self.config = new
        if events_changed and self._server is not None:  # armed only once the loop runs
            self._arm_psi_triggers()
            self._start_events()
        self.stats.config_reload_ok = True
        self.stats.config_reload_success_time = time.time()
        self._published = None
        logs.event(
            logging.INFO,
            "reloaded",
            "config reloaded from %s",
            new.source,
            config=new.source,
            interval=new.interval_seconds,
        )
        self.notifier.reloaded(self._status())

    def _status(self, firing: tuple[str, ...] | None = None) -> str:
        """From the newest sample and the engine: publishing everything a scrape sees just for this line
        cost more than the sample itself. `firing`: the firing rules when the caller has them already."""
        if self._newest is None:
            return "starting"
        return status_line(self._newest, self.tracker.level, self._firing() if firing is None else firing)

    def _cgroup_pressure_path(self, path: str) -> str | None:
        """A cgroup's memory.pressure: in the cgroup2 tree (v2, or the controller-less tree of a hybrid host)."""
        tree = self._cgroup_tree
        if tree is None:
            return None
        root = tree.memory.root if tree.memory.version == 2 else tree.pressure_root
        if root is None:
            return None
        return f"{root}{'' if path == '/' else path}/memory.pressure"

    # -- memory events ------------------------------------------------------------------------------------
    def _state_directory(self) -> str | None:
        """systemd's StateDirectory= (the first of $STATE_DIRECTORY), else events.directory, else none."""
        from_systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return from_systemd or self.config.events.directory

    def _start_events(self) -> None:
        settings = self.config.events
        if self._recorder_timer is not None:
            self._recorder_timer.cancel()
            self._recorder_timer = None
        if self._events is not None and self._events.open is not None:
            self._events.close()
        if not settings.record:
            self._recorder = self._events = self._event_store = None
            return
        # The seconds before come from the history's samples (nothing to do per sample), or from the ring
        # when it has a recorder_interval of its own; the ring holds the fast points after a trigger too (an
        # event extends fast mode, so a long one keeps only its latest part).
        every = settings.recorder_interval_seconds or self.config.interval_seconds
        own = (
            settings.recorder_seconds / settings.recorder_interval_seconds if settings.recorder_interval_seconds else 0
        )
        points = int(own + settings.fast_seconds / settings.fast_interval_seconds) + 2
        if self._recorder is None or self._recorder.capacity != points:
            self._recorder = FlightRecorder(points)
        directory = self._state_directory()
        store = self._event_store
        if (
            store is None
            or str(store.directory or "") != (directory or "")
            or (
                store.max_records,
                store.max_bytes,
            )
            != (settings.max_records, settings.max_bytes)
        ):
            store = self._event_store = EventStore(directory, settings.max_records, settings.max_bytes)
        self._events = Events(
            store,
            settings.fast_seconds,
            settings.recorder_seconds,
            self._set_fast,
            self._loop.call_at,
            self._build_record,
            self._on_record,
        )
        log.info(
            "events: flight recorder of %s, a point every %s, every %s for %s after a trigger; records %s",
            fmt.duration(settings.recorder_seconds),
            fmt.duration(every),
            fmt.duration(settings.fast_interval_seconds),
            fmt.duration(settings.fast_seconds),
            f"in {store.directory}" if store.persisted else f"in memory only ({store.problem})",
        )
        self._schedule_recorder()

    def _set_fast(self, fast: bool) -> None:
        self._fast = fast
        if fast:
            self._event_cgroups = self._cgroups.cgroups if self._cgroups is not None else ()
        self._published = None
        self._schedule_recorder()

    def _schedule_recorder(self) -> None:
        """A recorder timer only in fast mode or with its own recorder_interval: otherwise the ring takes
        a point from every sample, which reads the same files anyway (a 10 Hz timer of its own would
        cost five times the whole daemon: README, Performance)."""
        if self._recorder_timer is not None:
            self._recorder_timer.cancel()
            self._recorder_timer = None
        settings = self.config.events
        interval = settings.fast_interval_seconds if self._fast else settings.recorder_interval_seconds
        if self._recorder is not None and interval is not None:
            self._recorder_timer = self._loop.call_at(time.monotonic() + interval, self._record_point)

    def _record_point(self) -> None:
        """A point of the recorder's own timer: meminfo and PSI (and vmstat in fast mode), read through
        the kept descriptors. A source that fails leaves its fields empty for this point."""
        from memmond.sources import meminfo, pressure, vmstat

        self._recorder_timer = None
        recorder = self._recorder
        if recorder is None:
            return
        values = []
        for module, wanted in ((meminfo, True), (pressure, True), (vmstat, self._fast)):
            parsed = None
            if wanted:
                try:
                    parsed = module.read(self.procfs)  # type: ignore[attr-defined]
                except Exception:  # a kernel file that fails here is reported by the sampler
                    parsed = None
            values.append(parsed)
        recorder.add(recorder_mod.point(time.monotonic(), time.time(), *values))
        self._schedule_recorder()

    def _event_trigger(self, kind: str, detail: dict[str, object]) -> None:
        if self._events is not None:
            self._events.trigger(kind, detail)
            self._published = None

    def _build_record(self, record: EventRecord) -> None:
        assert self._recorder is not None
        before = self.config.events.recorder_seconds
        since = record.started_monotonic - before
        # the samples the history keeps anyway, and the recorder's own points (fast mode, recorder_interval)
        samples = []
        for snap in reversed(self.history.samples):
            if snap.monotonic < since:
                break
            samples.append(recorder_mod.point(snap.monotonic, snap.wall_time, snap.meminfo, snap.pressure, snap.vmstat))
        rows = recorder_mod.rows(samples) + self._recorder.points(since=since)
        record.points = sorted(rows, key=lambda row: row[0] or 0.0)
        after = self._cgroups.cgroups if self._cgroups is not None else ()
        record.cgroups = recorder_mod.movers(self._event_cgroups, after)  # type: ignore[arg-type]
        since = record.started_wall - before
        record.oom_kills = [kill for kill in self._oom_recent if float(kill["time"]) >= since]  # type: ignore[arg-type]

    def _on_record(self, record: EventRecord) -> None:
        summary = record.summary()
        self._published = None
        available = summary["min_available_bytes"]
        stalled = summary["stalled_seconds"]
        logs.event(
            logging.WARNING,
            "memory_event",
            "memory event %s (%s): %s; lowest MemAvailable %s, stalled %s, %d OOM kill%s%s",
            record.id,
            record.trigger,
            fmt.duration(float(summary["duration_seconds"] or 0)),  # type: ignore[arg-type]
            fmt.iec(float(available)) if available is not None else "n/a",  # type: ignore[arg-type]
            fmt.duration(float(stalled)) if stalled is not None else "n/a",  # type: ignore[arg-type]
            len(record.oom_kills),
            "" if len(record.oom_kills) == 1 else "s",
            f"; most affected: {summary['top_cgroup']}" if summary["top_cgroup"] else "",
            event_id=record.id,
            event_trigger=record.trigger,
            event_triggers=summary["triggers"],
            event_duration=summary["duration_seconds"],
            event_min_available=available if available is not None else "",
            event_stalled=stalled if stalled is not None else "",
            event_oom_kills=len(record.oom_kills),
            event_top_cgroup=summary["top_cgroup"] or "",
        )

    def _arm_psi_triggers(self) -> None:
        if self._triggers is not None:
            self._triggers.close()
            self._triggers = None
        configs = self.config.events.psi_triggers
        if not configs:
            return
        self._triggers = PsiTriggers(
            self._loop,
            configs,
            str(self.procfs.path("pressure/memory")),
            self._cgroup_pressure_path,
            self._on_stall,
        )
        for line in self._triggers.describe():
            log.info("PSI trigger: %s", line)

    def _on_stall(self, event: StallEvent) -> None:
        """A trigger fired. Logged at most once a minute a trigger (with how often it fired meanwhile), so a
        machine stalling for an hour writes 60 lines, not 1800."""
        self._event_trigger(
            "psi",
            {"kind": event.kind, "cgroup": event.cgroup, "stalled_seconds": round(event.grown_seconds, 6)},
        )
        key = (event.kind, event.cgroup)
        last, unlogged = self._stall_said.get(key, (float("-inf"), 0))
        unlogged += 1
        self._published = None
        if event.monotonic - last < STALL_LOG_EVERY_SECONDS:
            self._stall_said[key] = (last, unlogged)
            return
        self._stall_said[key] = (event.monotonic, 0)
        where = "the machine" if event.cgroup == MACHINE else event.cgroup
        logs.event(
            logging.WARNING,
            "memory_stall",
            "memory stall on %s: tasks stalled %s (%s) within %g s, over the %s threshold (%s, %d time%s since "
            "the last line)",
            where,
            fmt.duration(event.grown_seconds) if event.mode == "kernel" else "past the threshold",
            event.kind,
            event.window_seconds,
            fmt.duration(event.stall_seconds),
            "PSI trigger" if event.mode == "kernel" else "polled",
            unlogged,
            "" if unlogged == 1 else "s",
            stall_kind=event.kind,
            stall_cgroup=event.cgroup,
            stall_threshold=event.stall_seconds,
            stall_window=event.window_seconds,
            stall_total=event.total_seconds,
            stall_mode=event.mode,
        )

    def _open_kernel_log(self, loop: Loop) -> None:
        """OOM victims from /dev/kmsg, else from the journal's kernel transport; said once when neither."""
        reasons = []
        if self.kmsg_path:
            kmsg = KernelLog(loop, self.kmsg_path, self._on_oom_kill)
            if kmsg.error is None:
                self._kernel_log = kmsg
                return
            reasons.append(kmsg.error)
        if self.journal:
            journal = JournalKernelLog(loop, None if self.journal == "auto" else self.journal, self._on_oom_kill)
            if journal.error is None:
                self._kernel_log = journal
                log.info("OOM victims from the kernel's messages in %s", journal.where)
                return
            reasons.append(journal.error)
        if reasons:
            log.info(
                "OOM victims are not available (%s); per-cgroup OOM kill counts still are. Under systemd, the "
                "unit's SupplementaryGroups=systemd-journal lets memmond read them from the journal.",
                "; ".join(reasons),
            )

    # -- the loop -----------------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        """Watchdog pings and the periodic STATUS come from the loop itself, so a stuck loop stops them."""
        now = time.monotonic()
        watchdog = self.notifier.watchdog_seconds
        if watchdog is not None and now - self._last_watchdog >= watchdog / 4:
            self.notifier.watchdog()
            self._last_watchdog = now
        if now - self._last_status >= STATUS_EVERY_SECONDS:
            self._send_status(now)
        period = STATUS_EVERY_SECONDS if watchdog is None else min(STATUS_EVERY_SECONDS, watchdog / 4)
        self._loop.call_at(now + period, self._housekeeping)

    def _firing(self) -> tuple[str, ...]:
        return tuple(name for name, state in self.engine.states.items() if state.state == FIRING)

    def _send_status(self, now: float, firing: tuple[str, ...] | None = None) -> None:
        self.notifier.status(self._status(firing))
        self._last_status = now

    def _status_if_changed(self) -> None:
        """After a sample: STATUS at once when the level, the firing rules or the sources down changed."""
        key = self._status_now()
        if key != self._status_key:
            self._status_key = key
            self._send_status(time.monotonic(), key[1])

    def _status_now(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """What a STATUS says that cannot wait: (level, firing rules, sources down)."""
        errors = tuple(self._newest.errors) if self._newest is not None else ()
        return (self.tracker.level, self._firing(), errors)

    def _on_signal(self) -> None:
        if self._stop:
            self._loop.stop()
        elif self._reload:
            self._reload = False
            old_interval = self.config.interval_seconds
            self.reload()
            if self.config.interval_seconds != old_interval:
                self._schedule(time.monotonic() + self.config.interval_seconds)

    def _schedule(self, due: float) -> None:
        if self._sample_timer is not None:
            self._sample_timer.cancel()
        self._next_due = due
        self._sample_timer = self._loop.call_at(due, self._tick)

    def _tick(self) -> None:
        interval = self.config.interval_seconds
        previous_start = self._newest.monotonic if self._newest is not None else None
        late = time.monotonic() - self._next_due
        if late >= interval:
            # The previous sample overran: skip the ticks it covered instead of sampling in a burst, and
            # count them before the sample that publishes the count.
            missed = int(late // interval)
            self.stats.samples_skipped_total += missed
            self._next_due += missed * interval
        self.sample_watched(time.monotonic())
        self.sample_system(time.monotonic())
        self.sample_cgroups(time.monotonic())
        self.sample_once()
        if self.notifier.enabled:
            self._status_if_changed()
        if previous_start is not None and late < interval and self._newest is not None:
            # on schedule (no skipped tick): how far this sample started from one interval after the last
            self.stats.observe_jitter(abs(self._newest.monotonic - previous_start - interval))
        if self._stall_after is not None and self.stats.samples_total >= self._stall_after:
            log.warning("%s: sampling loop stalls now (a test of the watchdog)", STALL_AFTER_VARIABLE)
            threading.Event().wait()  # forever: no more samples, no more watchdog pings
        due = self._next_due + interval
        now = time.monotonic()
        if due - now < interval / 2:
            # This sample overran (a huge or slow kernel file): skip ticks until half an interval is free,
            # or a sample that always overruns would leave scrapes one I/O callback between samples.
            missed = int((now + interval / 2 - due) // interval) + 1
            self.stats.samples_skipped_total += missed
            due += missed * interval
        self._schedule(due)

    def run(self) -> int:
        loop = self._loop
        try:
            server = HttpServer(loop, self.config.listen, lambda: self.latest, self.web, self.config.http)
        except OSError as exc:
            log.error("cannot listen on %s: %s", self.config.listen, exc.strerror or exc)
            return 1
        self._server = server
        raise_fd_limit(self.config.http.max_connections)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        loop.install_signal_wakeup()
        logs.event(
            logging.INFO,
            "started",
            "memmond %s listening on %s, sampling every %s (config: %s)",
            __version__,
            f"{self.config.listen.host or '*'}:{server.port}",
            fmt.duration(self.config.interval_seconds),
            self.config.source,
            listen=str(self.config.listen),
            port=server.port,
            config=self.config.source,
        )

        self._log_skipped_rules()
        self._check_process_visibility()
        self._open_kernel_log(loop)
        self.sample_watched(time.monotonic())
        self.sample_system(time.monotonic())
        self.sample_cgroups(time.monotonic())  # the cgroup tree first: cgroup triggers arm in it
        self._arm_psi_triggers()
        self._start_events()
        self.sample_once()
        self.notifier.ready(self._status())
        self._last_status, self._status_key = time.monotonic(), self._status_now()
        if self.notifier.enabled:
            self._housekeeping()
        # Everything made at start (modules, config, compiled rules) lives as long as the process: out of
        # the collector's sight, so its full collections scan only what sampling makes.
        gc.collect()  # what start-up left unreachable (argparse's cycles, config parsing) goes first
        gc.freeze()
        self._schedule(time.monotonic() + self.config.interval_seconds)
        try:
            if not self._stop:
                loop.run()
        finally:
            self.notifier.stopping()
            if self._kernel_log is not None:
                self._kernel_log.close()
            if self._triggers is not None:
                self._triggers.close()
            if self._events is not None and self._events.open is not None:
                self._events.close()  # a stop mid-event still leaves its record
            server.close()
            loop.close()
            logs.event(
                logging.INFO,
                "stopped",
                "memmond stopped after %d samples",
                self.stats.samples_total,
                samples=self.stats.samples_total,
            )
        return 0


def _stall_total(line: StallLine | None) -> float | None:
    return None if line is None else line.total_seconds


def raise_fd_limit(connections: int) -> None:
    """Each connection is a file descriptor: lift the soft limit (often 1024) toward the hard one, as Go
    programs do at start, so max_connections can be reached."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # the listening socket, /proc reads, journald, PSI triggers; the cgroup files kept open between walks
    wanted = connections + 64 + cgroup_source.KEPT_FILES_MAX
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
