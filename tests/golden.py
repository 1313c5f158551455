"""Golden outputs: what a CLI view prints into a pipe at 80 columns with colour off, compared with a file
in tests/golden/. MEMMOND_UPDATE_GOLDEN=1 rewrites the files (then read the diff before committing)."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import run_memmond

GOLDEN = Path(__file__).resolve().parent / "golden"


def check(name: str, *args: str, cwd: Path | None = None) -> str:
    result = run_memmond(*args, env={"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout, "colour in piped output"
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("MEMMOND_UPDATE_GOLDEN"):
        path.write_text(result.stdout)
    assert result.stdout == path.read_text(), f"{name} differs from {path}:\n{result.stdout}"
    return result.stdout
