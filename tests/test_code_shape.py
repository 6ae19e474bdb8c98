"""House rules that a reader relies on: no function in the package runs over 60 lines (its signature counted, so a
Typer command's option declarations count too; long option lists go into option groups, vptstudy/cli/option_groups.py),
and the training package has at most three importers (issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vptstudy"
MAX_LINES = 60  # from the ``def`` line to the function's last line (decorators not counted)


def _functions() -> list[tuple[str, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((f"{path.relative_to(PACKAGE)}:{node.name}", node.end_lineno - node.lineno + 1))
    return found


def test_no_function_over_60_lines_signature_included() -> None:
    functions = _functions()
    assert len(functions) > 300  # the scan sees the package
    lengths = dict(functions)
    assert lengths["cli/train.py:train"] > 10 and lengths["plan.py:plan"] > 40  # it counts from the def line
    assert [(name, n) for name, n in functions if n > MAX_LINES] == []


def test_train_has_at_most_three_importers() -> None:
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "train" and path.parent.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "vptstudy.train" or n.startswith("vptstudy.train.") for n in names):
                importers.add(str(path.relative_to(PACKAGE)))
    assert 1 <= len(importers) <= 3, sorted(importers)
