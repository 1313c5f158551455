"""memmond: Linux memory monitoring daemon, CLI and library.

The library API mirrors the linux-memory-monitor crate memmond grew from:

    import memmond
    stats = memmond.MemoryStats.current()
    pressure = memmond.MemoryPressure.current()
    before = memmond.take_snapshot(); ...; print(memmond.diff(before, memmond.take_snapshot()).summary_line())
    impact = memmond.write_file_and_analyze("/var/tmp/test.dat", b"\\0" * (10 << 20))

Every value is in bytes. See examples/ for the four classic uses.
"""

__version__ = "0.1.0"

from memmond.analysis import IOImpact, read_file_and_analyze, write_file_and_analyze
from memmond.api import (
    ContinuousMonitor,
    Event,
    EventMonitor,
    MemoryPressure,
    MemoryStats,
    diff,
    take_snapshot,
)
from memmond.diff import Diff
from memmond.snapshot import Snapshot
from memmond.trend import Trend

__all__ = [
    "ContinuousMonitor",
    "Diff",
    "Event",
    "EventMonitor",
    "IOImpact",
    "MemoryPressure",
    "MemoryStats",
    "Snapshot",
    "Trend",
    "__version__",
    "diff",
    "read_file_and_analyze",
    "take_snapshot",
    "write_file_and_analyze",
]
