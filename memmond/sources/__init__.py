"""Stage 1, sources: read and parse kernel files.

`procfs.ProcFS` is the root every read goes through (so tests and `--procfs` point it at a fixture tree);
each other module is one kernel file family, a pure `parse(text)` that fuzzing can hammer plus a thin
`read(procfs)`. Sources know nothing of samples, rules or serving.

May import: `memmond.sources`, `memmond.format`. Nothing above.
"""
