"""File I/O impact, as the seed's second example: what writing a 10 MiB file does to the page cache.

    .venv/bin/python examples/file_io.py [PATH] [--size-mib N]

Use a path on a real disk (the default is under /var/tmp; on tmpfs nothing is ever written back).
"""

import argparse
import os

import memmond


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=f"/var/tmp/memmond-example-{os.getpid()}.dat")
    parser.add_argument("--size-mib", type=int, default=10)
    args = parser.parse_args()

    analysis = memmond.write_file_and_analyze(args.path, b"\0" * (args.size_mib << 20), keep=False)
    print(f"File write impact: {analysis.summary()}")
    if analysis.caused_cache_growth:
        print("File write increased page cache")
    if analysis.freed_memory:
        print("Memory was freed during operation")
    for line in analysis.explanation():
        print(f"  - {line}")


if __name__ == "__main__":
    main()
