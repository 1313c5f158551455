"""memmond(1) in roff, generated from the argument parser, so the man page cannot drift from --help.

python3 packaging/debian/manpage.py > memmond.1
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from memmond import __version__
from memmond.cli.main import build_parser


def _roff(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines())


def _options(parser: argparse.ArgumentParser) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            flags = ", ".join(action.option_strings)
            value = f" {action.metavar or action.dest.upper()}" if action.nargs != 0 else ""
            out += [".TP", f"\\fB{_roff(flags)}\\fR{_roff(value)}", _roff(action.help or "")]
        else:
            out += [".TP", f"\\fI{_roff(str(action.metavar or action.dest))}\\fR", _roff(action.help or "")]
    return out


def manpage() -> str:
    parser = build_parser()
    today = datetime.date.today().isoformat()
    lines = [
        f'.TH MEMMOND 1 "{today}" "memmond {__version__}" "User Commands"',
        ".SH NAME",
        "memmond \\- Linux memory monitor: page cache, pressure, cgroups, rules and Prometheus metrics",
        ".SH SYNOPSIS",
        "\\fBmemmond\\fR [\\fIOPTIONS\\fR] [\\fICOMMAND\\fR [\\fIARGS\\fR]]",
        ".SH DESCRIPTION",
        _roff(parser.description or ""),
        "Without a command, memmond prints the short view (as \\fBmemmond show \\-\\-short\\fR).",
        ".SH OPTIONS",
        *_options(parser),
        ".SH COMMANDS",
    ]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines += [".SS " + _roff(f"memmond {name}"), _roff(sub.description or ""), *_options(sub)]
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        for inner_name, inner_sub in inner.choices.items():
                            title = _roff(f"memmond {name} {inner_name}")
                            lines += [".SS " + title, _roff(inner_sub.description or ""), *_options(inner_sub)]
    lines += [
        ".SH FILES",
        ".TP",
        "/etc/memmond/memmond.yaml",
        "The daemon's configuration (every key is documented in it); check it with \\fBmemmond check\\-config\\fR.",
        ".TP",
        "/var/lib/memmond",
        "Memory event records, kept across restarts.",
        ".SH EXIT STATUS",
        "0 ok, 1 runtime failure (one line on standard error), 2 usage error.",
        ".SH SEE ALSO",
        "\\fBfree\\fR(1), \\fBsmem\\fR(8), \\fBslabtop\\fR(1), \\fBsystemd-cgtop\\fR(1),",
        "/usr/share/doc/memmond/README.md",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(manpage())
