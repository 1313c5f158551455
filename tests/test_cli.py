"""The `memmond` program as a user runs it: subprocesses, exit codes, stdout/stderr."""

from __future__ import annotations

import json
import os
from pathlib import Path

import golden
import pytest
from conftest import CURRENT, FIXTURES, OLD_3_10, PRESSURE, fixture_pid, run_memmond

from memmond import __version__
from memmond import format as fmt


def _meminfo_lines(path: Path) -> list[tuple[str, int, bool]]:
    out = []
    for line in path.read_text().splitlines():
        name, rest = line.split(":")
        number, *unit = rest.split()
        out.append((name, int(number), unit == ["kB"]))
    return out


def test_show_prints_every_meminfo_field_of_a_fixture_in_kb() -> None:
    import re

    result = run_memmond("--procfs", str(CURRENT), "show")
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("/proc/meminfo  every field, kernel's kB")[1]
    for name, number, is_kb in _meminfo_lines(CURRENT / "meminfo"):
        value = f"{number:,} KB" if is_kb else f"{number:,} pages"
        assert re.search(rf"(^|\s){re.escape(name)}\s+{re.escape(value)}(\s|$)", section, re.M), (name, value)
    assert "Stalls  PSI, /proc/pressure/memory" in result.stdout


def test_show_golden_output_at_80_columns() -> None:
    """Seen: 91 lines, some 109 columns wide, and silent for 1.2 s. Now grouped under headings, at most 80
    columns in a pipe, with a spinner on a terminal while the rates are measured."""
    out = golden.check(
        "show", "--procfs", str(PRESSURE), "--sysfs", str(FIXTURES / "sysfs-two-nodes"), "show", "--rates-over", "0",
        "--cgroupfs", str(FIXTURES / "cgroup-v2-systemd"),
    )  # fmt: skip
    assert out.count("\n") <= 110 and "KSM running, saves 1.4 GiB" in out


def test_show_matches_the_real_proc_meminfo_read_in_the_same_second() -> None:
    result = run_memmond("show", "--json")
    real = {name: (number * 1024 if is_kb else number) for name, number, is_kb in _meminfo_lines(Path("/proc/meminfo"))}
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    shown = {**doc["meminfo_bytes"], **doc["meminfo_counts"]}
    assert list(shown) == list(real) or set(shown) == set(real)
    assert shown["MemTotal"] == real["MemTotal"]  # constant while the machine runs
    # Moving values agree within what a busy second can change (1 % of RAM).
    for name in ("MemFree", "MemAvailable", "Cached"):
        assert abs(shown[name] - real[name]) < real["MemTotal"] / 100, name


def test_show_human_output_on_the_real_proc() -> None:
    result = run_memmond("show")
    assert result.returncode == 0, result.stderr
    mem_total = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    assert f"{mem_total:,} KB" in result.stdout  # /proc/meminfo's figure, by eye
    assert result.stdout.splitlines()[5].split()[:2] == ["Mem:", fmt.short_iec(mem_total * 1024)]  # free's


def test_show_of_old_kernel_explains_estimated_available_and_missing_psi() -> None:
    result = run_memmond("--procfs", str(OLD_3_10), "show", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "estimated: MemFree + Buffers + Cached" in result.stdout
    assert "unavailable:" in result.stdout and "pressure/memory does not exist" in result.stdout


def test_show_json_is_bytes() -> None:
    result = run_memmond("--procfs", str(PRESSURE), "show", "--json")
    doc = json.loads(result.stdout)
    assert doc["meminfo_bytes"]["MemTotal"] == _meminfo_lines(PRESSURE / "meminfo")[0][1] * 1024
    assert doc["pressure"]["some"]["avg10"] > 0.05
    assert doc["derived"]["page_cache"] == doc["meminfo_bytes"]["Cached"] + doc["meminfo_bytes"]["Buffers"]


def test_snapshot_then_diff_against_a_file_and_against_now(tmp_path: Path) -> None:
    before = tmp_path / "before.json"
    after = tmp_path / "after.json"
    assert run_memmond("snapshot", "-o", str(before)).returncode == 0
    big = tmp_path / "data.bin"
    big.write_bytes(os.urandom(8 * 1024 * 1024))  # some page cache to see
    assert run_memmond("snapshot", "-o", str(after)).returncode == 0

    result = run_memmond("diff", str(before), str(after))
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("over ") and "page cache" in first and "MemFree" in first
    assert "Change over" in result.stdout

    doc = json.loads(run_memmond("diff", str(before), str(after), "--json").stdout)
    assert doc["same_boot"] is True and doc["seconds"] > 0
    assert doc["meminfo"]["MemTotal"]["change"] == 0

    now = run_memmond("diff", "--short", str(before), "-")
    assert now.returncode == 0 and len(now.stdout.splitlines()) == 1


def test_snapshot_to_stdout_loads_back(tmp_path: Path) -> None:
    result = run_memmond("--procfs", str(CURRENT), "snapshot")
    (tmp_path / "s.json").write_text(result.stdout)
    diff = run_memmond("diff", "--json", str(tmp_path / "s.json"), str(tmp_path / "s.json"))
    assert json.loads(diff.stdout)["seconds"] == 0


def test_proc_of_a_fixture_process_and_of_ourselves() -> None:
    pid = fixture_pid(CURRENT)
    result = run_memmond("--procfs", str(CURRENT), "proc", str(pid))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"process {pid} (")
    for field in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "VmSwap", "Pss"):
        assert f"\n  {field} " in result.stdout

    doc = json.loads(run_memmond("proc", str(os.getpid()), "--json").stdout)
    assert doc["pid"] == os.getpid()
    assert doc["status_bytes"]["VmRSS"] > 0
    assert doc["smaps_rollup_bytes"]["Pss"] > 0


def test_runtime_failures_are_one_line_and_exit_1(tmp_path: Path) -> None:
    cases = [
        ("--procfs", str(tmp_path), "show"),
        ("proc", "999999999"),
        ("diff", str(tmp_path / "missing.json"), "-"),
        ("snapshot", "-o", str(tmp_path / "no" / "such" / "dir" / "x.json")),
    ]
    (tmp_path / "bad.json").write_text("{}")
    cases.append(("diff", str(tmp_path / "bad.json"), "-"))
    for args in cases:
        result = run_memmond(*args)
        assert result.returncode == 1, (args, result)
        assert result.stderr.startswith("memmond: error: "), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    for args in [("frobnicate",), ("proc", "a/b"), ("proc", "-5"), ("diff", "onlyone")]:
        result = run_memmond(*args)
        assert result.returncode == 2, (args, result)
        assert "usage:" in result.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("watch", "--interval", "-1"), "argument --interval: must be from 0.1 to 3600 seconds, got -1"),
        (("watch", "--interval", "0"), "argument --interval: must be from 0.1 to 3600 seconds, got 0"),
        (("watch", "--count", "0"), "argument --count: must be 1 or more, got 0"),
        (("show", "--rates-over", "-1"), "argument --rates-over: must be from 0 to 60 seconds, got -1"),
        (("io-impact", "write", "/var/tmp/x", "--size", "-5MiB"), "argument --size: a size cannot be negative"),
        (("run", "--bogus"), "unrecognized arguments: --bogus"),
        (("io-impact", "read", "/etc/hostname", "--bogus"), "unrecognized arguments: --bogus"),
    ],
)
def test_bad_values_are_usage_errors_of_their_own_command(args: tuple[str, ...], error: str) -> None:
    """Seen: these were accepted with exit 0 (a busy loop for --interval 0), or got the wrong message
    ("expected one argument", the top-level usage for `run --bogus`)."""
    result = run_memmond(*args)
    command = " ".join(a for a in args[:2] if not a.startswith(("-", "/")))
    assert result.returncode == 2, (args, result.stdout)
    assert result.stderr.startswith(f"usage: memmond {command} "), result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"memmond {command}: error: {error}"), result.stderr


def test_version() -> None:
    result = run_memmond("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"memmond {__version__}"


def test_procfs_from_environment() -> None:
    result = run_memmond("show", "--json", env={"MEMMOND_PROCFS": str(OLD_3_10)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mem_available_estimated"] is True


def test_every_command_and_argument_has_help() -> None:
    """Seen: subcommands without descriptions, positional arguments and --json without help."""
    import argparse

    from memmond.cli.main import build_parser

    missing = []

    def check(parser: argparse.ArgumentParser, name: str) -> None:
        if not parser.description:
            missing.append(f"{name}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for sub_name, sub in action.choices.items():
                    if not helps.get(sub_name):
                        missing.append(f"{name} {sub_name}: no help line")
                    check(sub, f"{name} {sub_name}")
            elif not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")

    check(build_parser(), "memmond")
    assert missing == []
