"""What every view looks like in a terminal and in a pipe: 80 columns in a pipe, colour only on a
terminal and never with NO_COLOR or --json."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, PRESSURE, run_memmond

TABLE = FIXTURES / "processes-6.18-x86_64"
V2 = FIXTURES / "cgroup-v2-systemd"

VIEWS = [
    ("--procfs", str(TABLE)),
    ("--procfs", str(PRESSURE), "show", "--rates-over", "0", "--cgroupfs", str(V2)),
    ("--procfs", str(TABLE), "top", "--by", "unit"),
    ("--procfs", str(PRESSURE), "cgroups", "--cgroupfs", str(V2)),
    ("--procfs", str(PRESSURE), "watch", "--count", "1"),
    ("cache", "/etc"),
    ("io-impact", "read", "/etc/os-release"),
    ("proc", "1"),
]


@pytest.mark.parametrize("args", VIEWS, ids=lambda a: " ".join(a[2:4]) if a[0] == "--procfs" else " ".join(a[:2]))
def test_every_view_fits_80_columns_in_a_pipe(args: tuple[str, ...]) -> None:
    result = run_memmond(*args, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    widths = [len(line) for line in result.stdout.splitlines()]
    assert widths and max(widths) <= 80, max(widths)
    assert "\x1b[" not in result.stdout


def _on_a_terminal(*args: str, env: dict[str, str] | None = None) -> str:
    """The output of memmond run on a pseudo-terminal 100 columns wide."""
    leader, follower = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "TERM")}
    full_env.update({"TERM": "xterm-256color", **(env or {})})
    proc = subprocess.Popen(
        [sys.executable, "-m", "memmond", *args], stdin=follower, stdout=follower, stderr=follower, env=full_env
    )
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(10)
    os.close(leader)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_colour_on_a_terminal_never_with_no_color_or_json() -> None:
    args = ("--procfs", str(TABLE), "top", "--by", "unit")
    coloured = _on_a_terminal(*args)
    assert "\x1b[" in coloured and "memmond-test-db.scope" in coloured
    assert "\x1b[" not in _on_a_terminal(*args, env={"NO_COLOR": "1"})
    as_json = _on_a_terminal(*args, "--json")
    assert "\x1b[" not in as_json and as_json.lstrip().startswith("{")


def test_a_terminal_wider_than_80_gets_the_width(tmp_path: Path) -> None:
    text = _on_a_terminal("--procfs", str(PRESSURE), "show", "--rates-over", "0", env={"NO_COLOR": "1"})
    assert max(len(line) for line in text.splitlines()) > 80  # the tuning notes use the room


def test_top_watch_refreshes_in_place_until_ctrl_c() -> None:
    import signal

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "memmond", "--procfs", str(TABLE), "top", "--watch", "--interval", "0.5"],
        stdin=follower, stdout=follower, stderr=follower, env={**env, "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and out.count(b"Processes by PSS") < 3:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            out += os.read(leader, 65536)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
    os.close(leader)
    assert out.count(b"Processes by PSS") >= 3, out
    assert b"\x1b[2K" in out or b"\x1b[1A" in out or b"\x1b[A" in out  # the cursor goes back up: in place
