"""Shell completion generated from the parser: bash completes commands, options and their choices; zsh
loads it through compinit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_memmond


def _bash_complete(script: Path, *words: str) -> list[str]:
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); _memmond\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_bash_completes_commands_options_and_choices(tmp_path: Path) -> None:
    script = tmp_path / "memmond.bash"
    script.write_text(run_memmond("completion", "bash").stdout)
    assert _bash_complete(script, "memmond", "t") == ["trend", "top"]
    assert _bash_complete(script, "memmond", "top", "--sort", "") == ["rss", "pss", "uss", "swap"]
    assert _bash_complete(script, "memmond", "cgroups", "--sort", "") == ["current", "limit", "psi", "oom"]
    assert _bash_complete(script, "memmond", "io-impact", "write", "/x", "--f") == ["--fsync", "--force"]
    (tmp_path / "conf.yaml").write_text("")
    assert _bash_complete(script, "memmond", "check-config", str(tmp_path / "co")) == [str(tmp_path / "conf.yaml")]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (dev-setup.sh --test installs it)")
def test_zsh_loads_the_completion_through_compinit(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_memmond").write_text(run_memmond("completion", "zsh").stdout)
    assert subprocess.run(["zsh", "-n", str(functions / "_memmond")], timeout=30).returncode == 0
    program = (
        f"fpath=({functions} $fpath); autoload -Uz compinit; compinit -u -d {tmp_path}/dump; "
        "print -r -- $_comps[memmond]; autoload -Uz +X _memmond && print loaded"
    )
    result = subprocess.run(
        ["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=30, env={"HOME": str(tmp_path)}
    )
    assert result.stdout.split() == ["_memmond", "loaded"], result.stderr
