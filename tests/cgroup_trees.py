"""Cgroup trees built from the v2 fixture, for tests and benchmarks that need a host with many services."""

from __future__ import annotations

import shutil
from pathlib import Path

V2_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "cgroup-v2-systemd"


def many_services(root: Path, count: int) -> Path:
    """The v2 fixture copied to `root` with `count` more services in system.slice, each a copy of its
    nginx.service using a different amount of memory (1 MiB, 2 MiB, ...)."""
    shutil.copytree(V2_FIXTURE, root)
    for index in range(count):
        target = root / "system.slice" / f"svc-{index:04d}.service"
        shutil.copytree(V2_FIXTURE / "system.slice" / "nginx.service", target, ignore=shutil.ignore_patterns("workers"))
        (target / "memory.current").write_text(f"{(index + 1) << 20}\n")
    return root
