"""The paper's published accuracies (Tables 1-6) and their comparison with a runs folder's means.

The numbers ship in ``vptstudy/assets/paper_results.json``, transcribed from the paper with the table number beside
each block; tests/test_analysis_paper.py checks every cell against the paper's text. Accuracies there are percentages;
vptstudy's run results are fractions.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from vptstudy.analysis.tables import Report, Table

TOLERANCE = 1.5  # points: a task "reproduces" the paper when |ours - paper| <= this
MISSING = "—"


@dataclass(frozen=True)
class PaperBlock:
    """One table of the paper in one regime: values[method][task] in percent."""

    table: int
    regime: str
    values: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Paper:
    blocks: tuple[PaperBlock, ...]
    notes: tuple[str, ...]

    def block(self, table: int, regime: str) -> PaperBlock:
        return next(b for b in self.blocks if b.table == table and b.regime == regime)

    def regimes(self) -> list[str]:
        return list(dict.fromkeys(b.regime for b in self.blocks))

    def regime(self, regime: str) -> tuple[list[str], dict[str, dict[str, tuple[float, int]]]]:
        """Tables of ``regime`` and values[task][method] = (percent, table number), in the paper's order."""
        tables, values = [], {}
        for b in self.blocks:
            if b.regime != regime:
                continue
            tables.append(b.table)
            for method, per in b.values.items():
                for task, value in per.items():
                    values.setdefault(task, {})[method] = (value, b.table)
        return tables, values


@cache
def load_paper() -> Paper:
    """The published numbers shipped with the package."""
    data = json.loads(files("vptstudy").joinpath("assets/paper_results.json").read_text())
    blocks = tuple(PaperBlock(int(b["table"]), b["regime"], b["values"]) for b in data["blocks"])
    return Paper(blocks, tuple(data["notes"]))


@dataclass(frozen=True)
class Comparison:
    """Our table of one study and regime next to the paper's: percent values, None where a side has none."""

    study: str
    regime: str
    paper_tables: list[int]
    tasks: list[str]
    methods: list[str]
    ours: dict[tuple[str, str], float]
    paper: dict[tuple[str, str], float]
    not_in_paper: list[str]

    def diff(self, task: str, method: str) -> float | None:
        a, b = self.ours.get((task, method)), self.paper.get((task, method))
        return None if a is None or b is None else a - b

    def within(self, method: str) -> tuple[int, int]:
        """(tasks within TOLERANCE points of the paper, tasks present on both sides) for ``method``."""
        diffs = [d for t in self.tasks if (d := self.diff(t, method)) is not None]
        return sum(abs(d) <= TOLERANCE + 1e-9 for d in diffs), len(diffs)


def compare(table: Table, paper: Paper | None = None) -> Comparison | None:
    """Our means against the paper's values for the same regime; None when the paper has no such regime."""
    paper = paper or load_paper()
    if table.regime not in paper.regimes():
        return None
    numbers, published = paper.regime(table.regime)
    paper_methods = list(dict.fromkeys(m for per in published.values() for m in per))
    methods = [m for m in paper_methods if m in table.methods] + [m for m in paper_methods if m not in table.methods]
    tasks = list(published) + [t for t in table.tasks if t not in published]
    ours = {(t, m): 100 * cell.mean for t in table.tasks for m, cell in table.cells[t].items() if m in paper_methods}
    theirs = {(t, m): v for t, per in published.items() for m, (v, _) in per.items()}
    extra = [m for m in table.methods if m not in paper_methods]
    return Comparison(table.study, table.regime, numbers, tasks, methods, ours, theirs, extra)


def comparisons(report: Report) -> list[Comparison]:
    return [c for t in report.tables if (c := compare(t)) is not None]


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return MISSING
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def title(c: Comparison) -> str:
    nums = sorted(set(c.paper_tables))
    where = f"Table {nums[0]}" if len(nums) == 1 else f"Tables {nums[0]}-{nums[-1]}"
    return f"{c.study}: {c.regime} vs the paper's {where} (test acc %; Δ = ours − paper)"


def wide_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    """One row per task, three columns (ours, paper, Δ) per method, and a last row of tasks within 1.5 points."""
    header = ["task"] + [f"{m} {col}" for m in c.methods for col in ("ours", "paper", "Δ")]
    rows = [
        [task]
        + [
            s
            for m in c.methods
            for s in (_num(c.ours.get((task, m))), _num(c.paper.get((task, m))), _num(c.diff(task, m), True))
        ]
        for task in c.tasks
    ]
    rows.append([f"within {TOLERANCE:g}"] + [s for m in c.methods for s in ("", "", "{}/{}".format(*c.within(m)))])
    return header, rows


def long_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    """The same numbers, one row per task and method (for narrow terminals)."""
    header = ["task", "method", "ours", "paper", "Δ"]
    rows = [
        [task, m, _num(c.ours.get((task, m))), _num(c.paper.get((task, m))), _num(c.diff(task, m), True)]
        for task in c.tasks
        for m in c.methods
    ]
    rows += [[f"within {TOLERANCE:g}", m, "", "", "{}/{}".format(*c.within(m))] for m in c.methods]
    return header, rows


def summary(c: Comparison) -> str:
    parts = [f"{m} {k}/{n}" for m in c.methods for k, n in [c.within(m)]]
    line = f"tasks within {TOLERANCE:g} points of the paper: " + ", ".join(parts)
    return line + (f"; not in the paper: {', '.join(c.not_in_paper)}" if c.not_in_paper else "")


def to_markdown(items: list[Comparison]) -> str:
    """paper.md: one wide table per study and regime, with the summary line under it."""
    lines = ["# vptstudy report: comparison with the paper", ""]
    for c in items:
        header, rows = wide_rows(c)
        lines += [f"## {title(c)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += ["", summary(c) + ".", ""]
    notes = load_paper().notes
    return "\n".join([*lines, "Notes on the published numbers:", "", *(f"- {n}" for n in notes), ""])


def to_csv(items: list[Comparison]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["study", "regime", "task", "method", "ours", "paper", "diff", "within"])
    for c in items:
        for task in c.tasks:
            for m in c.methods:
                ours, theirs, diff = c.ours.get((task, m)), c.paper.get((task, m)), c.diff(task, m)
                cells = ["" if v is None else f"{v:.4f}" for v in (ours, theirs, diff)]
                within = "" if diff is None else int(abs(diff) <= TOLERANCE + 1e-9)
                writer.writerow([c.study, c.regime, task, m, *cells, within])
    return buffer.getvalue()
