"""Stage 3, rules: from samples to decisions.

The expression language (`expr`, over the vocabulary in `names`), the state machine that turns
expressions into events (`engine`), the built-in pack, pressure levels, message templates, and
`ruleset`, which compiles a loaded config into all of these.

May import: `memmond.sources`, `memmond.model`, `memmond.config`, `memmond.rules`, `memmond.format`.
"""
