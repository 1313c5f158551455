"""Event-based monitoring, as the seed's fourth example: built-in conditions plus your own.

.venv/bin/python examples/events.py [--checks N] [--every 5]
"""

import argparse
import time

import memmond


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=0, help="stop after N checks (0: run until Ctrl-C)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between checks")
    args = parser.parse_args()

    event_monitor = memmond.EventMonitor()
    event_monitor.add_common_conditions()  # the built-in rule pack
    # A Python callable, as in the seed: alert if page cache > 50% of total memory
    event_monitor.add_condition(
        "high_page_cache", lambda stats, previous: stats.page_cache_size() / stats.mem_total > 0.5
    )
    # The same kind of rule in memmond's expression language, as the config file would have it
    event_monitor.add_rule("some_memory_in_use", "memory_used > 0", severity="info")

    checks = 0
    try:
        while args.checks == 0 or checks < args.checks:
            for event in event_monitor.check_conditions():
                print(f"Memory event triggered: {event}")
            checks += 1
            if args.checks == 0 or checks < args.checks:
                time.sleep(args.every)
    except KeyboardInterrupt:
        pass
    print(f"firing now: {', '.join(event_monitor.firing()) or 'nothing'}")


if __name__ == "__main__":
    main()
