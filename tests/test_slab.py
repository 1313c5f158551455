"""`memmond slab` from a captured /proc/slabinfo (and meminfo of the same second), the refusal without
root, and reading a file of many records whole."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys

import golden
import pytest
from conftest import FIXTURES, run_memmond
from hypothesis import given
from hypothesis import strategies as st

from memmond.sources import slabinfo
from memmond.sources.procfs import ProcFS, SourceError

SLAB = FIXTURES / "slab-6.18-x86_64"


def test_every_cache_of_the_capture_is_read_and_sums_near_meminfo_slab() -> None:
    caches = slabinfo.read(ProcFS(SLAB))
    lines = [line for line in (SLAB / "slabinfo").read_text().splitlines()[2:] if line.strip()]
    assert len(caches) == len(lines)
    slab_kb = next(
        int(line.split()[1]) for line in (SLAB / "meminfo").read_text().splitlines() if line.startswith("Slab:")
    )
    total = sum(c.size_bytes for c in caches)
    assert 0.9 < total / (slab_kb * 1024) <= 1.0


def test_slab_golden_output_at_80_columns() -> None:
    out = golden.check("slab", "--procfs", str(SLAB), "slab", "--limit", "8")
    assert out.splitlines()[3].split()[0] == "ext4_inode_cache"


def test_slab_json_sorted_by_objects() -> None:
    doc = json.loads(run_memmond("--procfs", str(SLAB), "slab", "--json", "--sort", "objects", "--limit", "3").stdout)
    assert [c["objects"] for c in doc] == sorted((c["objects"] for c in doc), reverse=True) and len(doc) == 3


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to switch to nobody")
def test_without_root_slab_refuses_and_says_where_the_totals_are() -> None:
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "memmond", "slab"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(FIXTURES.parent.parent)},
    )  # fmt: skip
    assert result.returncode == 1 and "Permission denied" in result.stderr and "memmond show" in result.stderr


def test_a_file_of_many_records_is_read_whole() -> None:
    """seq_file hands out one buffer of records a read (about 4 KB): a short read is not the end of
    /proc/self/maps, slabinfo, mountinfo on a host with many mounts, or a kstat."""
    whole = ProcFS("/proc").read_text("self/maps", records=True)
    assert len(whole) > 4096 and whole.endswith("\n") and whole.count("\n") > 40
    assert "[stack]" in whole or "[vdso]" in whole


@given(st.text(max_size=300))
def test_the_slabinfo_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(SourceError):
        slabinfo.parse("slabinfo - version: 2.1\n" + text)
