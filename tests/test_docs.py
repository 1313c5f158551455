"""The README and the code tell the same story: generated parts match, the CI command is the README's."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from memmond.model import efficiency
from memmond.rules.builtin import markdown_table
from memmond.serve.exposition import catalogue_markdown
from memmond.serve.logs import MESSAGE_IDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_metric_reference_is_generated_from_the_catalogue() -> None:
    match = re.search(r"<!-- metrics:begin -->\n(.*?)\n<!-- metrics:end -->", README, re.S)
    assert match, "README.md lacks the <!-- metrics:begin/end --> block"
    assert match.group(1) == catalogue_markdown(), (
        "README metric table is stale: regenerate it with `python -m memmond.serve.exposition`"
    )


def test_readme_builtin_rule_table_is_generated_from_the_pack() -> None:
    match = re.search(r"<!-- builtin-rules:begin -->\n(.*?)\n<!-- builtin-rules:end -->", README, re.S)
    assert match, "README.md lacks the <!-- builtin-rules:begin/end --> block"
    assert match.group(1) == markdown_table(), (
        "README built-in rule table is stale: regenerate it with `python -m memmond.rules.builtin`"
    )


def test_readme_per_cgroup_rule_names_are_generated_from_the_vocabulary() -> None:
    from memmond.rules.names import cgroup_names_markdown

    match = re.search(r"<!-- cgroup-names:begin -->\n(.*?)\n<!-- cgroup-names:end -->", README, re.S)
    assert match and match.group(1) == cgroup_names_markdown(), (
        "README per-cgroup names are stale: regenerate them from memmond.rules.names.cgroup_names_markdown()"
    )


def test_readme_efficiency_formulas_are_generated_from_the_code() -> None:
    match = re.search(r"<!-- efficiency:begin -->\n(.*?)\n<!-- efficiency:end -->", README, re.S)
    assert match and match.group(1) == efficiency.markdown_table(), (
        "README efficiency table is stale: regenerate it with `python -m memmond.model.efficiency`"
    )


def test_readme_message_ids_match_the_code() -> None:
    for event, message_id in MESSAGE_IDS.items():
        if event != "journal_unreachable":
            assert f"| {event} | {message_id} |" in README, event


def test_embedded_default_config_is_the_repository_file() -> None:
    embedded = resources.files("memmond").joinpath("default_config.yaml").read_text()
    assert embedded == (ROOT / "config" / "memmond.yaml").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "ci:test-command" in ci
    command = README.split("<!-- ci:test-command -->", 1)[1].split("```sh\n", 1)[1].split("\n", 1)[0]
    assert command.startswith("packaging/dev-setup.sh --test && ")
    assert "pytest" in command


def test_the_readme_library_snippet_runs_and_prints_no_none(tmp_path: Path) -> None:
    """Seen: `print(monitor.get_trend_analysis(20))` printed None: the block sampled for no time at all."""
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python library") :]
    snippet = section[section.index("```python\n") + 10 : section.index("\n```", section.index("```python"))]
    snippet = snippet.replace('"/var/tmp/test.dat"', repr(str(tmp_path / "test.dat")))
    (tmp_path / "my-rules.yaml").write_text("rules:\n  - {name: mine, expr: mem_total > 0}\n")
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and not any(line.strip() == "None" for line in lines), result.stdout
    assert any(line.split()[0] in ("increasing", "decreasing", "stable") for line in lines), result.stdout
    assert "Memory event triggered: mine" in result.stdout
