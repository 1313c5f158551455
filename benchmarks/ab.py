"""Two versions of memmond side by side, in the same windows: did a change make the daemon cheaper?

    .venv/bin/python benchmarks/ab.py [--base HEAD] [--per-group 20] [--seconds 60] [--windows 5]
        [--base-python PATH] [--python PATH]

Runs --per-group daemons of the --base revision (exported with `git archive`) and as many of the working
tree, interleaved, with the same config (--config-text; default: the same data node_exporter's meminfo,
vmstat and pressure collectors serve), and as many node_exporter 1.5 for reference, all scraped by one
real Prometheus every --scrape-interval. Prints on-CPU time (schedstat) per daemon per second for each
group and window, and the ratios. Why this and not two runs of budget.py: one run's figure moves by
±8 % with the machine's load; groups that share every window share that noise, so a 5 % gain shows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import free_port, wait_http
from budget import PROMETHEUS, SAME_DATA, measure_groups, start_node_exporter, stop_all

REPO = Path(__file__).resolve().parent.parent


def export_revision(revision: str) -> Path:
    """The revision's memmond package in a directory of its own (nothing of the working tree leaks in)."""
    where = Path(tempfile.mkdtemp(prefix="memmond-ab-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "memmond"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where


def start_daemon(source: Path, config: Path, python: str = sys.executable) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM")}
    env["PYTHONPATH"] = str(source)
    argv = [python, "-m", "memmond", "run", "--listen", f"127.0.0.1:{port}", "--config", str(config),
            "--journal", "none", "--log-target", "stderr"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=source)
    return proc, port


def ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")  # a window too short to see a scrape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the git revision to compare the working tree with")
    parser.add_argument("--per-group", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--warm-up", type=float, default=30.0)
    parser.add_argument("--scrape-interval", default="5s")
    parser.add_argument("--config-text", default=SAME_DATA, help="the YAML config both groups run with")
    parser.add_argument(
        "--base-python", default=sys.executable, help="the interpreter the base group runs under (needs PyYAML)"
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter the changed group runs under")
    args = parser.parse_args()
    assert PROMETHEUS, "install the Debian package prometheus"

    workdir = Path(tempfile.mkdtemp(prefix="memmond-ab-run-"))
    config = workdir / "memmond.yaml"
    config.write_text(args.config_text)
    change = Path(tempfile.mkdtemp(prefix="memmond-ab-change-"))
    shutil.copytree(REPO / "memmond", change / "memmond")  # a copy: editing on while it runs changes nothing
    sources = {"base": export_revision(args.base), "change": change}
    pythons = {"base": args.base_python, "change": args.python}
    groups: dict[str, list[tuple[subprocess.Popen, int]]] = {"base": [], "change": [], "node": []}
    try:
        for _ in range(args.per_group):
            for name, source in sources.items():
                groups[name].append(start_daemon(source, config, pythons[name]))
        for name in sources:
            for _, port in groups[name]:
                wait_http(port, "/-/ready", 60)
        groups["node"] = [start_node_exporter() for _ in range(args.per_group)]
    except BaseException:
        stop_all(groups)
        raise
    windows = measure_groups(
        workdir, groups, tuple(groups), args.scrape_interval, args.warm_up, args.seconds, args.windows
    )
    print(f"{args.per_group} of each, base {args.base} vs the working tree, scraped every {args.scrape_interval}")
    if args.base_python != args.python:
        print(f"base under {args.base_python}, the working tree under {args.python}")
    print("on-CPU ms per process per second (schedstat), by window:")
    heads = ("base", "change", "node", "change/base", "base/node", "change/node")
    print(f"{'window':>6} " + " ".join(f"{head:>{max(8, len(head))}}" for head in heads))
    for number, w in enumerate(windows, 1):
        print(
            f"{number:>6} {w['base'] * 1e3:8.3f} {w['change'] * 1e3:8.3f} {w['node'] * 1e3:8.3f} "
            f"{ratio(w['change'], w['base']):11.3f} {ratio(w['base'], w['node']):9.2f} "
            f"{ratio(w['change'], w['node']):11.2f}"
        )
    med = {name: statistics.median(w[name] for w in windows) for name in groups}
    change_to_base = statistics.median(ratio(w["change"], w["base"]) for w in windows)
    print(
        f"{'median':>6} {med['base'] * 1e3:8.3f} {med['change'] * 1e3:8.3f} {med['node'] * 1e3:8.3f} "
        f"{change_to_base:11.3f} "
        f"{statistics.median(ratio(w['base'], w['node']) for w in windows):9.2f} "
        f"{statistics.median(ratio(w['change'], w['node']) for w in windows):11.2f}"
    )


if __name__ == "__main__":
    main()
