"""Stage 2, model: what the sources' values mean over time.

A `Snapshot` is one sample (values plus derived figures); `Diff` compares two, `History` keeps a compact
ring with window maths, `trend` and `efficiency` turn history into rates and directions, `watch` samples
the files and processes a config names, and `io_impact` measures what one read or write does to memory.

May import: `memmond.sources`, `memmond.model`, `memmond.format`, `memmond.__version__`.
"""
