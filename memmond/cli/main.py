"""The `memmond` command: argparse wiring around the library. Reports live in report.py.

Exit codes: 0 ok, 1 runtime failure (one line on stderr, no traceback), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memmond import __version__
from memmond import config as config_mod
from memmond import format as fmt
from memmond.cli import report, utilities
from memmond.model import efficiency, processes, watch
from memmond.model.diff import Diff
from memmond.model.snapshot import Sampler, Snapshot, SnapshotFormatError
from memmond.rules import ruleset
from memmond.rules.levels import level_of
from memmond.sources import process, vmtunables
from memmond.sources.procfs import ProcFS, SourceError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """A runtime failure with a message for the user; main() prints it as one line and exits 1."""


def _procfs(args: argparse.Namespace) -> ProcFS:
    return ProcFS(args.procfs)


def _capture(args: argparse.Namespace) -> Snapshot:
    snap = Sampler(_procfs(args)).capture()
    if snap.meminfo is None:
        raise CLIError(f"cannot read meminfo: {snap.errors.get('meminfo')}")
    return snap


def _print_json(doc: object) -> None:
    print(json.dumps(doc, indent=2))


def cmd_short(args: argparse.Namespace) -> int:
    """`memmond` alone: free -h's answer with pressure, the largest services and processes, firing rules."""
    from memmond.cli import remote, short, term
    from memmond.sources import cgroup

    with term.working("reading memory, cgroups and processes"):
        snap = _capture(args)
        tree = cgroup.discover(_procfs(args), args.cgroupfs)
        found = cgroup.walk(tree) if tree is not None else []
        rows = processes.read_all(_procfs(args))
        try:
            rules: dict[str, Any] | str = json.loads(remote.get(args.url, "/api/v1/rules", timeout=0.5))
        except remote.DaemonUnavailable as exc:
            rules = f"unknown: no daemon at {args.url} ({exc.reason.lower()})"
        except ValueError:
            rules = f"{args.url} did not answer with memmond's rules"
    term.console().print(short.view(snap, found, rows, rules))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    if args.short:
        return cmd_short(args)
    from memmond.cli import show, term

    rates = None
    with term.working(f"measuring vmstat rates over {args.rates_over:g} s"):
        if args.rates_over > 0:
            sampler = Sampler(_procfs(args))
            first = sampler.capture()
            time.sleep(args.rates_over)
            snap = sampler.capture()
            if snap.meminfo is None:
                raise CLIError(f"cannot read meminfo: {snap.errors.get('meminfo')}")
            rates = (snap.monotonic - first.monotonic, efficiency.rates(first, snap))
        else:
            snap = _capture(args)
        tunables, _ = vmtunables.read(_procfs(args))
    if args.json:
        doc = snap.to_dict()
        doc["pressure_level"], doc["pressure_level_reason"] = level_of(snap)
        doc["vm_tunables"] = tunables
        doc["rates"] = {"seconds": rates[0], **rates[1]} if rates else None
        _print_json(doc)
        return EXIT_OK
    from memmond.model import system

    out = term.console()
    subsystems = system.sample(_procfs(args), ProcFS(args.sysfs))
    out.print(show.view(snap, tunables, rates, _largest_cgroups(args, 5), out.width, subsystems))
    return EXIT_OK


def _largest_cgroups(args: argparse.Namespace, count: int) -> list[Any]:
    """The `count` largest cgroups below the root, or none where no hierarchy with memory is found."""
    from memmond.sources import cgroup

    tree = cgroup.discover(_procfs(args), args.cgroupfs)
    if tree is None:
        return []
    found = [cg for cg in cgroup.walk(tree) if cg.path != "/" and cg.current is not None]
    return sorted(found, key=lambda cg: cg.current, reverse=True)[:count]


def _write_atomically(path: Path, text: str) -> None:
    """A snapshot file is either the old one or the complete new one, never half written."""
    import tempfile

    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def cmd_snapshot(args: argparse.Namespace) -> int:
    snap = _capture(args)
    if args.output in (None, "-"):
        sys.stdout.write(snap.to_json())
        return EXIT_OK
    try:
        _write_atomically(Path(args.output), snap.to_json())
    except OSError as exc:
        raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"snapshot written to {args.output}", file=sys.stderr)
    return EXIT_OK


def _load_snapshot(path: str) -> Snapshot:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CLIError(f"cannot read snapshot {path}: {exc.strerror or exc}") from None
    try:
        return Snapshot.from_json(text)
    except SnapshotFormatError as exc:
        raise CLIError(f"{path}: {exc}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    before = _load_snapshot(args.before)
    after = _capture(args) if args.after == "-" else _load_snapshot(args.after)
    diff = Diff(before, after)
    if args.json:
        _print_json(diff.to_dict())
    elif args.short:
        print(diff.summary_line())
    else:
        print(diff.summary_line())
        print()
        print(diff.summary_text())
    return EXIT_OK


def _process_doc(proc: process.ProcessMemory) -> dict[str, object]:
    return {
        "pid": proc.status.pid,
        "name": proc.status.name,
        "state": proc.status.state,
        "threads": proc.status.threads,
        "status_bytes": proc.status.memory,
        "smaps_rollup_bytes": proc.rollup.memory if proc.rollup else None,
        "smaps_rollup_error": proc.rollup_error,
    }


def cmd_proc(args: argparse.Namespace) -> int:
    procfs = _procfs(args)
    target: str = args.target
    if target.isdigit():
        pids = [int(target)]
    else:
        pids = watch.find_processes(procfs, target)
        if not pids:
            raise CLIError(f"no process named {target!r}")
    found = []
    for pid in pids:
        try:
            found.append(process.read(procfs, pid))
        except SourceError as exc:
            if target.isdigit():
                raise CLIError(f"process {pid}: {exc.reason}") from None  # gone by name: skip quietly
    if not found:
        raise CLIError(f"no process named {target!r} is left")
    if args.json:
        docs = [_process_doc(proc) for proc in found]
        _print_json(docs[0] if target.isdigit() else docs)
    else:
        print("\n\n".join(report.process(proc) for proc in found))
    return EXIT_OK


def cmd_top(args: argparse.Namespace) -> int:
    """Processes by memory; --watch refreshes in place until Ctrl-C."""
    from memmond.cli import term, top

    procfs = _procfs(args)
    if args.json:
        _print_json(top.document(processes.read_all(procfs), args.sort, args.by, args.limit))
        return EXIT_OK
    out = term.console()
    if not args.watch:
        with term.working("reading every process's memory"):
            rows = processes.read_all(procfs)
        out.print(top.view(rows, args.sort, args.by, args.limit))
        return EXIT_OK
    from rich.live import Live

    with Live(console=out, auto_refresh=False, transient=False) as live:
        while True:
            live.update(top.view(processes.read_all(procfs), args.sort, args.by, args.limit), refresh=True)
            time.sleep(args.interval)


def cmd_slab(args: argparse.Namespace) -> int:
    """The slab caches, root only: refused with what to do instead."""
    from memmond.cli import slab, term
    from memmond.sources import slabinfo

    try:
        caches = slabinfo.read(_procfs(args))
    except SourceError as exc:
        if "Permission denied" in exc.reason:
            raise CLIError(
                f"{exc.reason}: /proc/slabinfo is root's (sudo memmond slab); without root, `memmond show` has "
                "the totals (Slab, SReclaimable, SUnreclaim)"
            ) from None
        raise CLIError(exc.reason) from None
    if args.json:
        _print_json([cache.to_dict() for cache in slab.ordered(caches, args.sort)[: args.limit]])
        return EXIT_OK
    snap = Sampler(_procfs(args)).capture()
    term.console().print(slab.view(caches, args.sort, args.limit, snap.mem_field("Slab")))
    return EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    from memmond.cli import completion

    script = completion.bash(build_parser()) if args.shell == "bash" else completion.zsh(build_parser())
    sys.stdout.write(script)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    # Imported here: systemd-python and the HTTP stack are the daemon's business, not `memmond show`'s.
    from memmond.serve import logs
    from memmond.serve.daemon import Daemon, Overrides

    overrides = Overrides(listen=args.listen, log_level=args.log_level, log_target=args.log_target)
    procfs = _procfs(args)
    try:
        cfg, rules = ruleset.load_config(args.config, procfs, overrides.apply, ProcFS(args.sysfs))
        web = None
        if args.web_config_file:  # ssl, hashlib and bcrypt load only with a web config
            from memmond.serve import webconfig

            web = webconfig.load(args.web_config_file)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"memmond: error: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    logs.setup(cfg.log_level, cfg.log_target)
    kmsg = None if args.kmsg == "none" else args.kmsg
    journal = None if args.journal == "none" else args.journal
    return Daemon(
        cfg,
        args.config,
        overrides,
        procfs,
        rules,
        web,
        args.web_config_file,
        args.cgroupfs,
        kmsg,
        journal,
        ProcFS(args.sysfs),
    ).run()


def cmd_check_config(args: argparse.Namespace) -> int:
    """Like `promtool check config`: OK, or every problem (structure and rules) with file:line:col."""
    try:
        cfg, rules = ruleset.load_config(args.file, _procfs(args), sysfs=ProcFS(args.sysfs))
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"FAILED: {len(exc.problems)} problem(s)", file=sys.stderr)
        return EXIT_FAILURE
    builtin = sum(1 for rule in rules.rules if rule.origin == "builtin")
    print(f"{cfg.source}: OK ({builtin} built-in and {len(rules.rules) - builtin} configured rules)")
    for name, reason in rules.skipped.items():
        print(f"  built-in rule {name} not active here: {reason}")
    return EXIT_OK


def _listen(text: str) -> config_mod.Listen:
    try:
        return config_mod.parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_cache(args: argparse.Namespace) -> int:
    from memmond.cli import cache, term

    walk = cache.measure(args.paths, args.max_files, args.method)
    if args.json:
        _print_json(cache.document(walk, args.limit))
    else:
        term.console().print(cache.view(walk, args.limit or 20, args.summary))
    if not walk.results and walk.errors:
        return EXIT_FAILURE
    return 130 if walk.interrupted else EXIT_OK


class _ProgressBar:
    """A progress bar on stderr for operations that take longer than half a second, when stderr is a TTY."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = False
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.started < 0.5:
            return
        share = done / total if total else 1.0
        filled = int(share * 30)
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {share:6.1%}  {fmt.iec(done)} of {fmt.iec(total)}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def cmd_io_impact(args: argparse.Namespace) -> int:
    from memmond.model import io_impact

    sampler = Sampler(_procfs(args))
    bar = _ProgressBar()
    try:
        if args.operation == "write":
            impact = io_impact.write_file_and_analyze(
                args.path,
                size=args.size,
                block_size=args.block_size,
                fsync=args.fsync,
                force=args.force,
                keep=args.keep,
                sampler=sampler,
                progress=bar,
            )
        else:
            impact = io_impact.read_file_and_analyze(
                args.path, drop_first=args.drop_first, block_size=args.block_size, sampler=sampler, progress=bar
            )
    except FileExistsError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"{args.path}: {exc.strerror or exc}") from None
    finally:
        bar.close()
    if args.json:
        _print_json(impact.to_dict())
    else:
        print(report.io_impact(impact, shutil.get_terminal_size((80, 24)).columns))
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    change = utilities.sync(Sampler(_procfs(args)))
    parts = [
        f"{name} {fmt.iec(change.before.mem_field(name) or 0)} -> {fmt.iec(change.after.mem_field(name) or 0)}"
        for name in ("Dirty", "Writeback")
    ]
    print(f"sync took {change.seconds:.2f} s: " + ", ".join(parts))
    return EXIT_OK


def cmd_drop_caches(args: argparse.Namespace) -> int:
    procfs = _procfs(args)
    try:
        change = utilities.drop_caches(args.level, procfs, Sampler(procfs))
    except utilities.NotPermitted as exc:
        raise CLIError(str(exc)) from None
    freed = -(change.delta("Cached") + change.delta("Buffers") + change.delta("SReclaimable"))
    print(f"dropped {utilities.DROP_WHAT[args.level]} (after sync) in {change.seconds:.2f} s: freed {fmt.iec(freed)}")
    rows = [
        [
            name,
            fmt.iec(change.before.mem_field(name) or 0),
            fmt.iec(change.after.mem_field(name) or 0),
            fmt.signed_iec(change.delta(name)),
        ]
        for name in ("MemFree", "Cached", "Buffers", "SReclaimable")
    ]
    print(fmt.table(rows, header=["meminfo", "before", "after", "change"]))
    return EXIT_OK


def cmd_trend(args: argparse.Namespace) -> int:
    from memmond.cli import remote

    try:
        doc = json.loads(remote.get(args.url, f"/api/v1/trend?samples={args.samples}"))
    except remote.DaemonUnavailable as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(f"cannot reach memmond at {args.url}: {exc} (is `memmond run` running?)") from None
    if args.json:
        _print_json(doc)
    else:
        from memmond.cli import term, trend

        term.console().print(trend.view(doc))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    """Memory events from the daemon's API, or from a state directory with --dir."""
    from memmond.cli import events, remote

    try:
        if args.event_id:
            record = events.get_event(None if args.dir else args.url, args.dir, args.event_id)
            if args.json:
                _print_json(record)
            else:
                print(events.timeline(record, width=max(20, shutil.get_terminal_size((80, 24)).columns - 40)))
            return EXIT_OK
        found = events.list_events(None if args.dir else args.url, args.dir)
    except (events.EventsUnavailable, remote.DaemonUnavailable) as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(f"not an event list: {exc}") from None
    if args.json:
        _print_json(found)
    else:
        print(events.table(found))
    return EXIT_OK


def cmd_cgroups(args: argparse.Namespace) -> int:
    """Memory by cgroup, like systemd-cgtop for memory: once, or refreshed in place with --watch."""
    from memmond.sources import cgroup

    tree = cgroup.discover(_procfs(args), args.cgroupfs)
    if tree is None:
        raise CLIError("no cgroup hierarchy with memory figures found (give one with --cgroupfs DIR)")
    selection = cgroup.Selection(max_depth=args.depth)
    while True:
        found = cgroup.walk(tree, selection)
        if args.json:
            _print_json([_cgroup_doc(cg) for cg in found])
            return EXIT_OK
        width = shutil.get_terminal_size((80, 24)).columns
        text = report.cgroups_table(found, args.sort, width)
        if not args.watch:
            print(text)
            return EXIT_OK
        tty = sys.stdout.isatty()
        sys.stdout.write(("\x1b[H\x1b[2J" if tty else "") + text + "\n" + ("" if tty else "\n"))
        sys.stdout.flush()
        time.sleep(args.interval)


def _cgroup_doc(cg: Any) -> dict[str, Any]:
    """One cgroup for scripts: every figure in bytes (or counts), None where the kernel has none."""
    return {
        "path": cg.path,
        "unit": cg.unit,
        "version": cg.version,
        "current_bytes": cg.current,
        "peak_bytes": cg.peak,
        "limits_bytes": dict(cg.limits),
        "working_set_bytes": cg.working_set,
        "anon_bytes": cg.anon,
        "file_bytes": cg.file,
        "shmem_bytes": cg.shmem,
        "kernel_bytes": cg.kernel,
        "swap_bytes": cg.swap,
        "events": dict(cg.events),
        "pressure": None
        if cg.pressure is None
        else {
            kind: None
            if line is None
            else {"avg10": line.avg10, "avg60": line.avg60, "avg300": line.avg300, "total_seconds": line.total_seconds}
            for kind, line in (("some", cg.pressure.some), ("full", cg.pressure.full))
        },
        "processes": cg.procs,
    }


def cmd_watch(args: argparse.Namespace) -> int:
    from memmond.cli.live import LiveView

    procfs = _procfs(args)
    try:
        cfg, rules = ruleset.load_config(args.config, procfs)
    except config_mod.ConfigError as exc:
        raise CLIError("; ".join(exc.problems)) from None
    interval = args.interval if args.interval is not None else cfg.interval_seconds
    view = LiveView(Sampler(procfs), rules, cfg.levels, interval)
    tty = sys.stdout.isatty()
    frames = 0
    next_due = time.monotonic()
    while args.count is None or frames < args.count:
        frame = view.step()
        if tty:
            sys.stdout.write("\x1b[H\x1b[2J" + frame + "\n")  # home and clear: redraw in place
        else:
            sys.stdout.write(frame + "\n\n")
        sys.stdout.flush()
        frames += 1
        if args.count is not None and frames >= args.count:
            break
        next_due += interval
        time.sleep(max(0.0, next_due - time.monotonic()))
    return EXIT_OK


def _size(text: str) -> int:
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"a size cannot be negative, got {text!r}")
    try:
        value = fmt.parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def _pid_or_name(text: str) -> str:
    if text.isdigit() and int(text) > 0:
        return text
    if not text or text.lstrip("-").isdigit() or "/" in text:
        raise argparse.ArgumentTypeError(f"not a process id or name: {text!r}")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse taking '-5MiB' as a (bad) value rather than an unknown option, so `--size -5MiB` says the
    size is wrong instead of "expected one argument"; every subcommand parser is one of these too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import re

        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\d")


# What `memmond COMMAND --help` says above the options: what the command shows and where it comes from.
DESCRIPTIONS = {
    "show": (
        "Every /proc/meminfo field in the kernel's kB and in human units, grouped: totals, page cache, "
        "anonymous memory, kernel, swap; PSI stall figures; vmstat rates measured over --rates-over seconds; "
        "the vm tunables with what they mean here; the largest cgroups. --short is the one-screen view "
        "`memmond` prints alone."
    ),
    "snapshot": ("Save meminfo, vmstat and PSI as one JSON document, to compare later with `memmond diff`."),
    "diff": (
        "What changed between two snapshots: the fields that moved most, in human units, and the pressure "
        "level then and now. AFTER '-' compares with now."
    ),
    "proc": (
        "A process's memory from /proc/PID/status (RSS, its anon/file/shmem parts, swap, peaks) and "
        "smaps_rollup (PSS), by PID or for every process with a name. `memmond top` lists them all."
    ),
    "cache": (
        "How much of each file is in the page cache, like fincore and vmtouch: the files with most cached "
        "first and a total of all. Directories are walked recursively (symlinks not followed)."
    ),
    "io-impact": (
        "Write or read a file and show what it did to the page cache and memory: Cached, Dirty, MemFree and "
        "MemAvailable before, right after and after sync, explained."
    ),
    "write": ("Write a new file of --size bytes (removed afterwards unless --keep) and analyse what it did."),
    "read": ("Read a file and analyse what it did; --drop-first evicts its pages first so the read comes from disk."),
    "sync": (
        "Write every dirty page back to disk (sync) and show how long it took and what Dirty and Writeback "
        "were before and after."
    ),
    "drop-caches": (
        "Sync, then drop clean caches through /proc/sys/vm/drop_caches (1 page cache, 2 slab, 3 both) and "
        "show what was freed. Root only; a test and diagnosis tool, never a fix."
    ),
    "trend": (
        "Trends over the newest samples of a running daemon (GET /api/v1/trend): direction, change, slope and"
        " volatility of available, used, free, page cache and dirty memory, and pressure level changes."
    ),
    "watch": (
        "A live view refreshed in place: memory and pressure with sparklines, and the rules of a config "
        "evaluated as the daemon would. No daemon needed."
    ),
    "run": (
        "The daemon: sample on a timer, keep a history, evaluate rules and pressure levels, serve Prometheus "
        "metrics on /metrics and the JSON API, log events to journald. Reloads its config on SIGHUP."
    ),
    "check-config": (
        "Validate a config like `promtool check config`: OK with the rules it would run, or every problem "
        "(structure and expressions) with file:line:column, in one run."
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="memmond",
        description="Linux memory monitor: current stats, snapshots and diffs, process memory.",
    )
    parser.add_argument("--version", action="version", version=f"memmond {__version__}")
    parser.add_argument(
        "--procfs",
        default=os.environ.get("MEMMOND_PROCFS", "/proc"),
        metavar="DIR",
        help="procfs root to read (default /proc, or $MEMMOND_PROCFS)",
    )
    parser.add_argument(
        "--sysfs",
        default=os.environ.get("MEMMOND_SYSFS", "/sys"),
        metavar="DIR",
        help="sysfs root to read NUMA, huge pages, KSM, zram and zswap from (default /sys, or $MEMMOND_SYSFS)",
    )
    # --procfs works after the subcommand too (`memmond run --procfs DIR`); SUPPRESS keeps the
    # subcommand from overwriting a value given before it.
    common = _Parser(add_help=False)
    common.add_argument("--procfs", default=argparse.SUPPRESS, metavar="DIR", help="procfs root to read")
    common.add_argument("--sysfs", default=argparse.SUPPRESS, metavar="DIR", help="sysfs root to read")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    show = sub.add_parser(
        "show",
        parents=[common],
        help="current memory stats, page cache breakdown and PSI",
    )
    show.add_argument("--json", action="store_true", help="machine-readable, values in bytes")
    show.add_argument(
        "--rates-over",
        type=_seconds(0, 60),
        default=1.0,
        metavar="SECONDS",
        help="measure vmstat rates over this long (default 1; 0: no rates)",
    )
    show.add_argument(
        "--cgroupfs",
        action="append",
        metavar="DIR",
        help="root of a cgroup hierarchy for the largest cgroups; twice on a hybrid host (default: mount table)",
    )
    show.add_argument(
        "--short",
        action="store_true",
        help="the short view `memmond` alone prints: free -h, pressure, top services and processes, rules",
    )
    show.add_argument(
        "--url",
        default="http://127.0.0.1:9847",
        help="the daemon whose firing rules --short shows (default http://127.0.0.1:9847)",
    )
    show.set_defaults(handler=cmd_show)

    snap = sub.add_parser(
        "snapshot",
        parents=[common],
        help="save the current state as a JSON snapshot",
    )
    snap.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    snap.set_defaults(handler=cmd_snapshot)

    diff = sub.add_parser(
        "diff",
        parents=[common],
        help="what changed between two snapshots (AFTER '-' means now)",
    )
    diff.add_argument("before", metavar="BEFORE", help="a snapshot file (from `memmond snapshot -o FILE`)")
    diff.add_argument("after", metavar="AFTER", help="a later snapshot file, or - for now")
    diff.add_argument("--json", action="store_true", help="machine-readable, changes in bytes")
    diff.add_argument("--short", action="store_true", help="only the one-line summary")
    diff.set_defaults(handler=cmd_diff)

    proc = sub.add_parser(
        "proc",
        parents=[common],
        help="memory of a process, or of every process with a name",
    )
    proc.add_argument("target", type=_pid_or_name, metavar="PID|NAME", help="a process id, or a command name (comm)")
    proc.add_argument("--json", action="store_true", help="machine-readable, values in bytes")
    proc.set_defaults(handler=cmd_proc)

    cache = sub.add_parser(
        "cache",
        parents=[common],
        help="page cache residency of files (like fincore/vmtouch)",
    )
    cache.add_argument("paths", nargs="+", metavar="PATH", help="files, or directories (recursively)")
    cache.add_argument(
        "--max-files", type=_positive_int, default=100000, metavar="N", help="stop walking after N files (100000)"
    )
    cache.add_argument(
        "--limit", type=_positive_int, metavar="N", help="show the N files with most cached (20; --json: all)"
    )
    cache.add_argument("--summary", action="store_true", help="only the total")
    cache.add_argument(
        "--method",
        choices=("auto", "cachestat", "mincore"),
        default="auto",
        help="auto: cachestat(2) where the kernel has it (6.5+), else mmap + mincore(2)",
    )
    cache.add_argument("--json", action="store_true", help="machine-readable, values in bytes")
    cache.set_defaults(handler=cmd_cache)

    impact = sub.add_parser(
        "io-impact",
        parents=[common],
        help="what writing or reading a file does to the page cache and memory",
    )
    impact_ops = impact.add_subparsers(dest="operation", metavar="OPERATION", required=True)
    write = impact_ops.add_parser(
        "write",
        parents=[common],
        help="write a new file and analyse",
    )
    write.add_argument("path", metavar="PATH", help="the file to write (refused if it exists, unless --force)")
    write.add_argument("--size", type=_size, required=True, help="how much to write, e.g. 100MiB")
    write.add_argument("--fsync", action="store_true", help="fsync before closing")
    write.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    write.add_argument("--keep", action="store_true", help="keep the file afterwards (default: remove it)")
    read = impact_ops.add_parser(
        "read",
        parents=[common],
        help="read a file and analyse",
    )
    read.add_argument("path", metavar="PATH", help="the file to read")
    read.add_argument("--drop-first", action="store_true", help="evict the file's own pages before reading")
    for op in (write, read):
        op.add_argument("--block-size", type=_size, default=1024 * 1024, help="I/O size (1MiB)")
        op.add_argument("--json", action="store_true", help="machine-readable, values in bytes")
        op.set_defaults(handler=cmd_io_impact)

    sync_cmd = sub.add_parser(
        "sync",
        parents=[common],
        help="write all dirty pages back (sync) and report",
    )
    sync_cmd.set_defaults(handler=cmd_sync)
    drop = sub.add_parser(
        "drop-caches",
        parents=[common],
        help="drop clean caches: 1 page cache, 2 slab, 3 both (root only; syncs first)",
    )
    drop.add_argument(
        "level", type=int, choices=(1, 2, 3), metavar="1|2|3", help="1 page cache, 2 slab (dentries, inodes), 3 both"
    )
    drop.set_defaults(handler=cmd_drop_caches)

    trend_cmd = sub.add_parser(
        "trend",
        parents=[common],
        help="trends over recent samples, from a running daemon",
    )
    trend_cmd.add_argument("--samples", type=int, default=20, metavar="N", help="how many samples (default 20)")
    trend_cmd.add_argument("--url", default="http://127.0.0.1:9847", help="the daemon (default http://127.0.0.1:9847)")
    trend_cmd.add_argument("--json", action="store_true", help="machine-readable")
    trend_cmd.set_defaults(handler=cmd_trend)

    watch_cmd = sub.add_parser(
        "watch",
        parents=[common],
        help="live terminal view (no daemon needed)",
    )
    watch_cmd.add_argument(
        "--interval",
        type=_seconds(0.1, 3600),
        metavar="SECONDS",
        help="refresh every SECONDS (default: the config's interval)",
    )
    watch_cmd.add_argument("--count", type=_positive_int, metavar="N", help="stop after this many refreshes")
    watch_cmd.add_argument("--config", metavar="FILE", help="rules and levels from this config")
    watch_cmd.set_defaults(handler=cmd_watch)

    events_cmd = sub.add_parser(
        "events",
        parents=[common],
        help="memory events the daemon recorded (stalls, OOM kills) with the seconds around them",
        description="Memory events: list them (newest first), or `memmond events ID` for one event's "
        "timeline: available memory, page cache and stall time around it, the cgroups involved, the OOM "
        "kills.",
    )
    events_cmd.add_argument("event_id", nargs="?", metavar="ID", help="one event to show (from the list)")
    events_cmd.add_argument("--url", default="http://127.0.0.1:9847", help="the daemon (default http://127.0.0.1:9847)")
    events_cmd.add_argument(
        "--dir", metavar="DIR", help="read the records from this state directory instead (e.g. /var/lib/memmond)"
    )
    events_cmd.add_argument("--json", action="store_true", help="machine-readable")
    events_cmd.set_defaults(handler=cmd_events)

    cgroups_cmd = sub.add_parser(
        "cgroups",
        parents=[common],
        help="memory by cgroup (systemd unit, container), like systemd-cgtop for memory",
        description="Memory of every systemd unit and container: current, share of its limit, anon, file, "
        "swap, PSI some avg10 and OOM kills, largest first.",
    )
    cgroups_cmd.add_argument(
        "--cgroupfs",
        action="append",
        metavar="DIR",
        help="root of a cgroup hierarchy; twice on a hybrid host (default: from the mount table)",
    )
    cgroups_cmd.add_argument("--sort", choices=report.CGROUP_SORTS, default="current", help="order (default current)")
    cgroups_cmd.add_argument(
        "--depth", type=_non_negative_int, default=3, metavar="N", help="levels below the root (3)"
    )
    cgroups_cmd.add_argument("--json", action="store_true", help="machine-readable, values in bytes")
    cgroups_cmd.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    cgroups_cmd.add_argument(
        "--interval", type=_positive_float, default=2.0, metavar="SECONDS", help="--watch refresh (2)"
    )
    cgroups_cmd.set_defaults(handler=cmd_cgroups)

    top_cmd = sub.add_parser(
        "top",
        parents=[common],
        help="processes by memory (RSS, PSS, USS, swap), like smem; grouped by user, command or unit",
        description="Processes by memory, largest first, with totals. PSS shares each shared page among the "
        "processes that map it (their sum is what they take), USS is what exiting would free; both need "
        "smaps_rollup, which another user's process does not let a non-root reader open: n/a there, not 0.",
    )
    top_cmd.add_argument("--sort", choices=processes.SORTS, default="pss", help="order (default pss)")
    top_cmd.add_argument(
        "--by", choices=processes.GROUPINGS, help="one row per user, command, or systemd unit (cgroup)"
    )
    top_cmd.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="rows to show (20)")
    top_cmd.add_argument("--json", action="store_true", help="machine-readable, values in bytes")
    top_cmd.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    top_cmd.add_argument(
        "--interval", type=_seconds(0.5, 3600), default=2.0, metavar="SECONDS", help="--watch refresh (2)"
    )
    top_cmd.set_defaults(handler=cmd_top)

    run = sub.add_parser(
        "run",
        parents=[common],
        help="run the daemon: sample, evaluate, serve /metrics",
    )
    run.add_argument(
        "--config",
        metavar="FILE",
        help=f"config file (default {config_mod.DEFAULT_CONFIG_PATH} when it exists, else the embedded default)",
    )
    run.add_argument("--listen", type=_listen, metavar="ADDR", help="HOST:PORT, overrides the config's listen")
    run.add_argument(
        "--cgroupfs",
        action="append",
        metavar="DIR",
        help="root of a cgroup hierarchy (cgroup2, or the v1 memory controller); twice on a hybrid host (v1 "
        "memory + cgroup2 for pressure). Default: found in the mount table",
    )
    run.add_argument(
        "--kmsg",
        default="/dev/kmsg",
        metavar="PATH",
        help="kernel log to read OOM victims from (default /dev/kmsg; 'none': do not read it)",
    )
    run.add_argument(
        "--journal",
        default="auto",
        metavar="auto|DIR|none",
        help="where else OOM victims come from when the kernel log is not readable: the journal's kernel "
        "messages ('auto': the system journal, needs the systemd-journal group; DIR: the journal files in DIR; "
        "'none': not at all)",
    )
    run.add_argument("--log-level", choices=config_mod.LOG_LEVELS, help="overrides the config's logging.level")
    run.add_argument("--log-target", choices=config_mod.LOG_TARGETS, help="overrides the config's logging.target")
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth, in the Prometheus exporter-toolkit format (reloaded on SIGHUP)",
    )
    run.set_defaults(handler=cmd_run)

    check = sub.add_parser(
        "check-config",
        parents=[common],
        help="validate a config file: OK, or every problem with file:line",
    )
    check.add_argument("file", metavar="FILE", help="the config file, e.g. /etc/memmond/memmond.yaml")
    check.set_defaults(handler=cmd_check_config)

    slab_cmd = sub.add_parser(
        "slab",
        parents=[common],
        help="the kernel's slab caches by size, like slabtop --once (root only)",
        description="The kernel's slab caches from /proc/slabinfo (root only), largest first: size (the caches' "
        "pages), active bytes, use, objects and object size, with the total beside meminfo's Slab.",
    )
    slab_cmd.add_argument("--sort", choices=("size", "active", "objects"), default="size", help="order (size)")
    slab_cmd.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="caches to show (20)")
    slab_cmd.add_argument("--json", action="store_true", help="machine-readable, values in bytes")
    slab_cmd.set_defaults(handler=cmd_slab)

    completion_cmd = sub.add_parser(
        "completion",
        help="print the shell completion script for bash or zsh",
        description="Print a completion script generated from memmond's own options. install.sh installs both; "
        "by hand: `memmond completion bash > /etc/bash_completion.d/memmond`, or for zsh into a directory "
        "of $fpath as _memmond.",
    )
    completion_cmd.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    completion_cmd.set_defaults(handler=cmd_completion)

    _own_usage(parser)
    return parser


def _own_usage(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's parser in its namespace, so an error after parsing shows that command's usage;
    and its description from DESCRIPTIONS where the parser was made without one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                subparser.set_defaults(parser=subparser)
                subparser.description = subparser.description or DESCRIPTIONS.get(name)
                _own_usage(subparser)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more, got 0")
    return value


def _seconds(low: float, high: float) -> Callable[[str], float]:
    """A number of seconds from `low` to `high`: 0 would make a refresh loop spin, -1 means nothing."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not low <= value <= high:  # NaN fails here too
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g} seconds, got {text}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # `memmond run --bogus` gets `memmond run`'s usage, not the top-level one
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "handler", None):  # `memmond` alone: the short view
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "show", "--short"])
    handler: Callable[[argparse.Namespace], int] = args.handler
    # The parser tree (700 KB with every command's help) is done with: `memmond run` would otherwise keep
    # it for the daemon's whole life, through this frame and args.parser.
    vars(args).pop("parser", None)
    del parser
    try:
        return handler(args)
    except CLIError as exc:
        print(f"memmond: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `memmond show | head`: the reader left; not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
