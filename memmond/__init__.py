"""memmond: Linux memory monitoring daemon, CLI and library.

The library API mirrors the linux-memory-monitor crate memmond grew from:

    import memmond
    stats = memmond.MemoryStats.current()
    pressure = memmond.MemoryPressure.current()
    before = memmond.take_snapshot(); ...; print(memmond.compare(before, memmond.take_snapshot()).summary_line())
    impact = memmond.write_file_and_analyze("/var/tmp/test.dat", b"\\0" * (10 << 20))

Every value is in bytes. See examples/ for the four classic uses. The names are imported on first use
(PEP 562), so the daemon and the CLI do not load the library layer (and ctypes) they do not need.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ContinuousMonitor": "memmond.api",
    "Event": "memmond.api",
    "EventMonitor": "memmond.api",
    "MemoryPressure": "memmond.api",
    "MemoryStats": "memmond.api",
    "compare": "memmond.api",
    "take_snapshot": "memmond.api",
    "IOImpact": "memmond.model.io_impact",
    "read_file_and_analyze": "memmond.model.io_impact",
    "write_file_and_analyze": "memmond.model.io_impact",
    "Diff": "memmond.model.diff",
    "Snapshot": "memmond.model.snapshot",
    "Trend": "memmond.model.trend",
}
__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'memmond' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
