"""The package's folders are its architecture: a lower stage never imports a higher one.

Read from the source with `ast` (every import, including the lazy ones inside functions), so the rule
holds for code paths the other tests never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "memmond"

# What each part of the package may import from memmond. `memmond` itself (for __version__) and
# `memmond.format` are shared by everything.
SHARED = {"memmond", "memmond.format"}
ALLOWED: dict[str, set[str]] = {
    "sources": {"sources"},
    "model": {"sources", "model"},
    "config": {"sources", "model", "config"},
    "rules": {"sources", "model", "config", "rules"},
    "serve": {"sources", "model", "config", "rules", "serve"},
    "api": {"sources", "model", "config", "rules", "api"},
    "cli": {"sources", "model", "config", "rules", "serve", "api", "cli"},
    "__main__": {"cli"},
    "__init__": set(),  # names its exports as strings and imports them lazily (PEP 562)
    "format": set(),
}
TOP_LEVEL = {"__init__.py", "__main__.py", "api.py", "config.py", "format.py", "default_config.yaml", "py.typed"}
STAGES = {"sources", "model", "rules", "serve", "cli"}


def part_of(root: Path, path: Path) -> str:
    relative = path.relative_to(root)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def memmond_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "memmond"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "memmond":
                # `from memmond import format, __version__`: each name is the module it names
                found += [(node.lineno, f"memmond.{alias.name}") for alias in node.names]
            elif node.module.split(".")[0] == "memmond":
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "<relative import>"))
    return found


def target_part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "memmond"


def violations(root: Path) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        part = part_of(root, path)
        for line, module in memmond_imports(path):
            if module == "<relative import>":
                problems.append(f"{path.relative_to(root)}:{line}: relative import (spell the stage out)")
                continue
            if module in SHARED or f"memmond.{target_part(module)}" in SHARED:
                continue
            if module == "memmond.__version__":
                continue
            if target_part(module) not in ALLOWED[part]:
                problems.append(f"{path.relative_to(root)}:{line}: {part} may not import {module}")
    return problems


def test_no_stage_imports_a_higher_stage() -> None:
    assert violations(PACKAGE) == []


def test_top_level_holds_only_the_shared_modules_and_the_stage_packages() -> None:
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries - TOP_LEVEL - STAGES == set()
    assert entries >= STAGES


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_stage_says_what_it_may_import(stage: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
    assert docstring and "May import" in docstring


@pytest.mark.parametrize(
    ("where", "source", "complaint"),
    [
        ("sources/meminfo.py", "from memmond.rules import engine\n", "sources may not import memmond.rules"),
        ("model/snapshot.py", "def f():\n    from memmond.serve import daemon\n", "model may not import memmond.serve"),
        ("serve/http.py", "import memmond.cli.report\n", "serve may not import memmond.cli.report"),
        ("rules/expr.py", "from memmond import api\n", "rules may not import memmond.api"),
        ("config.py", "from memmond.rules.levels import level_of\n", "config may not import memmond.rules"),
    ],
)
def test_an_upward_import_is_reported(tmp_path: Path, where: str, source: str, complaint: str) -> None:
    """The checker itself: plant one upward import in a copy of the layout and see it named."""
    planted = tmp_path / "memmond" / where
    planted.parent.mkdir(parents=True)
    planted.write_text(source)
    found = violations(tmp_path / "memmond")
    assert len(found) == 1 and complaint in found[0]
