"""Continuous monitoring, as the seed's third example: sample in the background, then analyse trends.

.venv/bin/python examples/continuous.py [--seconds 30] [--interval 0.5]
"""

import argparse
import time

import memmond
from memmond import format as fmt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()

    with memmond.ContinuousMonitor(1000).running(args.interval) as monitor:  # keep up to 1000 snapshots
        time.sleep(args.seconds)

    trend = monitor.get_trend_analysis(20)
    if trend is None:
        print("not enough samples for a trend")
        return
    cache = trend.series["page_cache"]
    print(f"Memory trend over {trend.sample_count} samples:")
    print(
        f"Page cache: {fmt.kb(int(cache.initial))} -> {fmt.kb(int(cache.final))} "
        f"({fmt.signed_kb(int(cache.change))}, {cache.direction})"
    )
    available = trend.series["available"]
    print(
        f"Available:  {fmt.kb(int(available.initial))} -> {fmt.kb(int(available.final))} "
        f"(slope {fmt.signed_iec(available.slope_per_second)}/s)"
    )


if __name__ == "__main__":
    main()
