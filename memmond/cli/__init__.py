"""Stage 4, cli: people's views at a terminal.

`main` is the argparse entry point (the `memmond` console script and `python -m memmond`); `report`
formats snapshots, diffs and processes for reading, `live` is `memmond watch`, `utilities` holds the
root-only actions (sync, drop caches). Terminal-only code lives here and nowhere else.

May import every stage (`memmond.serve` only to start the daemon from `memmond run`). Nothing imports it
but `memmond.__main__`.
"""
