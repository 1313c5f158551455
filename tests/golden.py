"""Golden outputs: what a CLI view prints into a pipe at 80 columns with colour off, compared with a file
in tests/golden/. MEMMOND_UPDATE_GOLDEN=1 rewrites the files (then read the diff before committing)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import run_memmond

GOLDEN = Path(__file__).resolve().parent / "golden"


TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def check(name: str, *args: str, cwd: Path | None = None) -> str:
    """The output compared with the golden file; a local date and time in it reads <time>."""
    result = run_memmond(*args, env={"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}, cwd=cwd)
    assert result.returncode == 0, result.stderr
    result.stdout = TIME.sub("<time>", result.stdout)
    assert "\x1b[" not in result.stdout, "colour in piped output"
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("MEMMOND_UPDATE_GOLDEN"):
        path.write_text(result.stdout)
    assert result.stdout == path.read_text(), f"{name} differs from {path}:\n{result.stdout}"
    return result.stdout
