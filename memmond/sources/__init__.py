"""Kernel memory sources: one module per file, each a pure `parse(text)` plus `read(procfs)`."""
