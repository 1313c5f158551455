"""Cost of the daemon's cgroup walk on a big tree: 500 services (copies of the v2 fixture's nginx.service)
walked once a second as the daemon does, CPU share of one core.

    .venv/bin/python benchmarks/cgroups.py [--services 500] [--seconds 10] [--max-cgroups 50]

The daemon ranks every selected cgroup by memory.current (one small file each), then reads every file only
for the largest max_cgroups. For comparison the script also times the full read of every cgroup (what
`memmond cgroups` does). Target: under 2 % of one core at 1 Hz for 500 cgroups.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cgroup_trees import many_services

from memmond.model.cgroups import sample
from memmond.sources.cgroup import Selection, Tree, walk

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "cgroup-v2-systemd"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-cgroups", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = many_services(Path(directory) / "cg", args.services)
        tree = Tree.from_roots([root])
        assert tree is not None
        selection = Selection()
        cpu, wall, walks = time.process_time(), time.monotonic(), 0
        found = 0
        while time.monotonic() - wall < args.seconds:
            result = sample(tree, selection, args.max_cgroups, everything=False)  # the default detail: basic
            found, walks = result.found, walks + 1
            time.sleep(max(0.0, wall + walks - time.monotonic()))  # once a second
        per_walk = (time.process_time() - cpu) / walks
        started = time.process_time()
        every = len(walk(tree, selection))
        full = time.process_time() - started
    print(f"{found} cgroups found, {args.max_cgroups} read in full, {walks} walks at 1 Hz")
    print(
        f"daemon walk: {per_walk * 1e3:6.2f} ms CPU each = {per_walk * 100:5.2f} % of one core at 1 Hz (target < 2 %)"
    )
    print(f"full read of all {every} cgroups (memmond cgroups): {full * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
