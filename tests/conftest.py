"""Shared test helpers: fixture trees and running the real `memmond` program as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CURRENT = FIXTURES / "linux-6.18-x86_64"
PRESSURE = FIXTURES / "linux-6.18-x86_64-pressure"
OLD_3_10 = FIXTURES / "linux-3.10-x86_64"
OLD_4_19 = FIXTURES / "linux-4.19-arm64"
ALL_TREES = (CURRENT, PRESSURE, OLD_3_10, OLD_4_19)


def fixture_pid(tree: Path) -> int:
    """The captured process of a fixture tree (its only numeric folder)."""
    (pid,) = [int(p.name) for p in tree.iterdir() if p.name.isdigit()]
    return pid


def run_memmond(
    *args: str, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the installed program exactly as a user would (python -m memmond == console script)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MEMMOND_PROCFS"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "memmond", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


@pytest.fixture(params=ALL_TREES, ids=lambda p: p.name)
def tree(request: pytest.FixtureRequest) -> Path:
    return request.param
