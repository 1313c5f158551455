"""`memmond top`: processes by RSS, PSS, USS or swap, grouped by user, command or unit, from a captured
process table (tests/fixtures/processes-6.18-x86_64: two python3 sharing a 32 MiB file in one scope, one
as nobody in another, a sleep whose smaps_rollup was not readable, a shell and a kernel thread) and live."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import golden
import pytest
from conftest import FIXTURES, run_memmond

from memmond.model import processes
from memmond.sources.procfs import ProcFS

TABLE = FIXTURES / "processes-6.18-x86_64"


def test_pss_shares_out_what_two_processes_map_and_uss_is_private() -> None:
    rows = {row.pid: row for row in processes.read_all(ProcFS(TABLE))}
    assert 2 not in rows  # kthreadd: no memory of its own
    web = [row for row in rows.values() if row.unit == "memmond-test-web.scope"]
    assert len(web) == 2
    for row in web:  # the shared file counts fully in RSS, half in PSS, not at all in USS
        assert row.uss_bytes < row.pss_bytes < row.rss_bytes
    sleeper = next(row for row in rows.values() if row.command == "sleep")
    assert sleeper.pss_bytes is None and sleeper.uss_bytes is None and sleeper.uid == 65534


def test_sorting_puts_unavailable_last_not_as_zero() -> None:
    rows = processes.read_all(ProcFS(TABLE))
    by_uss = processes.sort_rows(rows, "uss")
    assert by_uss[-1].command == "sleep"
    assert [r.uss_bytes for r in by_uss[:-1]] == sorted((r.uss_bytes for r in by_uss[:-1]), reverse=True)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("top", ()),
        ("top-by-unit", ("--by", "unit")),
        ("top-by-user-rss", ("--by", "user", "--sort", "rss")),
        ("top-by-comm-limit", ("--by", "comm", "--limit", "1")),
    ],
)
def test_top_golden_output_at_80_columns(name: str, args: tuple[str, ...]) -> None:
    golden.check(name, "--procfs", str(TABLE), "top", *args)


def test_top_json_has_exact_bytes_and_null_for_unavailable() -> None:
    result = run_memmond("--procfs", str(TABLE), "top", "--json", "--by", "unit")
    doc = json.loads(result.stdout)
    assert doc["total"]["processes"] == 5 and doc["total"]["processes_without_pss"] == 1
    (db,) = [g for g in doc["groups"] if g["key"] == "memmond-test-db.scope"]
    assert db["processes"] == 2 and db["rss_bytes"] % 1024 == 0 and db["processes_without_pss"] == 1
    plain = json.loads(run_memmond("--procfs", str(TABLE), "top", "--json").stdout)
    sleeper = next(p for p in plain["processes"] if p["command"] == "sleep")
    assert sleeper["pss_bytes"] is None and sleeper["user"] == "nobody"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to switch to nobody")
def test_an_unprivileged_user_sees_other_users_pss_as_unavailable_and_its_own() -> None:
    """Live /proc as nobody: root's processes have no readable smaps_rollup; nobody's own process has."""
    code = "import sys; from memmond.cli.main import main; sys.exit(main(['top', '--json', '--limit', '100000']))"
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(FIXTURES.parent.parent)},
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    mine = [p for p in doc["processes"] if p["uid"] == 65534]
    roots = [p for p in doc["processes"] if p["uid"] == 0]
    assert mine and all(p["pss_bytes"] is not None for p in mine)
    assert roots and all(p["pss_bytes"] is None for p in roots)
    text = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
         code.replace("'--json', ", "")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(FIXTURES.parent.parent)},
    ).stdout  # fmt: skip
    assert " n/a " in text and "unless run as root" in text
