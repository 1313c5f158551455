"""Basic memory information, as the seed's first example: current stats and memory pressure.

.venv/bin/python examples/basic.py
"""

import memmond
from memmond import format as fmt


def main() -> None:
    stats = memmond.MemoryStats.current()
    print(f"Total Memory:   {fmt.kb(stats.mem_total)}")
    print(f"Free Memory:    {fmt.kb(stats.mem_free)}")
    print(f"Page Cache:     {fmt.kb(stats.page_cache_size())}")
    print(f"Inactive(file): {fmt.kb(stats.inactive_file)}")

    pressure = memmond.MemoryPressure.current()
    print(f"Memory Pressure: {pressure.pressure_level} ({pressure.reason})")
    print(f"Available: {fmt.percent(pressure.available_ratio)}")


if __name__ == "__main__":
    main()
