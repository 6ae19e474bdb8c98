"""Paper-style tables from run directories: mean +- std of final test accuracy, group means, wins against FT.

Only final runs (``split: final``, ``status: ok``) are averaged, and of a searched unit only those of the choice
its ``search.json`` records: final runs of another lr/wd (orphans, e.g. left by an older driver that chose
differently) are listed, like failed runs and incomplete run directories, never averaged in. Accuracies are
stored as fractions and shown as percentages.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vptstudy import damaged, runs
from vptstudy.analysis.overfitting import OVERFITTING, RULE, overfitting_verdict
from vptstudy.results import RunResult
from vptstudy.rundir import RunDir

BASELINE = "ft"


@dataclass
class Cell:
    """One task x method: the final test accuracies of its seeds (fractions)."""

    accs: list[float] = field(default_factory=list)
    tuned_pct: float | None = None
    verdicts: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accs)

    @property
    def std(self) -> float:
        return statistics.stdev(self.accs) if len(self.accs) > 1 else 0.0


@dataclass
class Table:
    """One regime of one study: cells[task][method], the task order and the method order."""

    study: str
    regime: str
    cells: dict[str, dict[str, Cell]]
    tasks: list[str]
    methods: list[str]
    groups: dict[str, str]

    def group_tasks(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for task in self.tasks:
            out[self.groups.get(task, "custom")].append(task)
        from vptstudy.data.tasks import GROUP_ORDER

        return dict(sorted(out.items(), key=lambda kv: GROUP_ORDER.index(kv[0]) if kv[0] in GROUP_ORDER else 99))

    def wins(self, method: str, tasks: list[str]) -> int | None:
        """Tasks where ``method``'s mean beats FT's mean (None when FT is absent or it is FT)."""
        if method == BASELINE or BASELINE not in self.methods:
            return None
        return sum(
            1
            for t in tasks
            if method in self.cells[t]
            and BASELINE in self.cells[t]
            and self.cells[t][method].mean > self.cells[t][BASELINE].mean
        )

    def group_mean(self, method: str, tasks: list[str]) -> float | None:
        means = [self.cells[t][method].mean for t in tasks if method in self.cells[t]]
        return statistics.fmean(means) if len(means) == len(tasks) and means else None

    def tuned_pct(self, method: str) -> float | None:
        values = [self.cells[t][method].tuned_pct for t in self.tasks if method in self.cells[t]]
        values = [v for v in values if v is not None]
        return statistics.fmean(values) if values else None


@dataclass
class Report:
    tables: list[Table]
    failed: list[dict[str, Any]]
    incomplete: list[str]
    orphans: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)  # "corrupt: <path>: <why>", one per damaged file
    corrupt_runs: int = 0  # runs left out of every mean for a damaged file


def regime_of(result: RunResult) -> str:
    if result.shots:
        return f"{result.shots}-shot"
    if result.train_size:
        return f"train size {result.train_size}"
    return "VTAB-1k protocol" if str(result.task).startswith("vtab/") else "default splits"


def _task_group(task: str) -> str:
    from vptstudy.data import TASKS

    spec = TASKS.get(task)
    return spec.group if spec is not None else "custom"


def is_orphan(run: Path, result: RunResult) -> bool:
    """A final run that is not of the choice its unit's ``search.json`` records (lr, wd and method options)."""
    split = run.parent.parent.name
    if not split.endswith("final"):
        return False
    search = run.parent.parent.parent / (split.removesuffix("final") + "tune") / "search.json"
    try:
        record = json.loads(search.read_text())
        options = json.loads((run / runs.CONFIG).read_text())["run"].get("method_options") or {}
    except (OSError, ValueError, KeyError, TypeError):
        return False  # no recorded search (a fixed unit, an ad-hoc run): every final run counts
    chosen = record.get("chosen")
    if not isinstance(chosen, dict):
        return True
    same = (result.base_lr, result.weight_decay) == (chosen.get("lr"), chosen.get("wd"))
    return not (same and options == (record.get("method_options") or {}))


def collect(root: Path) -> Report:
    """Read every run under ``root`` into tables (one per study and regime)."""
    grouped: dict[tuple[str, str], dict[str, dict[str, Cell]]] = defaultdict(lambda: defaultdict(dict))
    order: dict[tuple[str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    failed, incomplete, orphans, corrupt, corrupt_runs = [], [], [], [], 0
    for run in runs.iter_runs(root):
        damage = runs.damage(run)
        if damage:
            corrupt.extend(e.listing for e in damage)
            corrupt_runs += 1
            continue
        rd = RunDir(run)
        result = rd.result
        if result is None:
            incomplete.append(str(run))
            continue
        if not result.ok:
            failed.append(result.to_dict())
            continue
        if result.split != "final":
            continue
        if is_orphan(run, result):
            orphans.append(str(run))
            continue
        key = (result.study or "?", regime_of(result))
        task, method = result.task, result.method
        cell = grouped[key][task].setdefault(method, Cell())
        cell.accs.append(result.final["test_acc"])
        cell.tuned_pct = result.trainable_pct
        cell.verdicts.append(overfitting_verdict(rd.metrics()).kind)
        tasks, methods = order[key]
        if task not in tasks:
            tasks.append(task)
        if method not in methods:
            methods.append(method)
    tables = []
    for key in sorted(grouped):
        tasks, methods = order[key]
        methods = sorted(methods, key=lambda m: (m != BASELINE, methods.index(m)))
        tables.append(Table(key[0], key[1], grouped[key], tasks, methods, {t: _task_group(t) for t in tasks}))
    for search in sorted(Path(root).rglob("search.json")):  # a damaged one marks no run an orphan; listed
        try:
            damaged.read_json_object(search)
        except damaged.CorruptFile as exc:
            corrupt.append(exc.listing)
    return Report(tables, failed, incomplete, orphans, corrupt, corrupt_runs)


def _fmt_cell(cell: Cell | None) -> str:
    return "-" if cell is None else f"{100 * cell.mean:.1f} ± {100 * cell.std:.1f}"


def table_rows(table: Table) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paper layout: methods down, tasks (by group) and group means across."""
    header = ["method", "tuned %"]
    groups = table.group_tasks()
    for group, tasks in groups.items():
        header += [*tasks, f"{group} mean (wins)"]
    rows = []
    for method in table.methods:
        pct = table.tuned_pct(method)
        row = [method, "-" if pct is None else f"{pct:.2f}"]
        for tasks in groups.values():
            row += [_fmt_cell(table.cells[t].get(method)) for t in tasks]
            mean, wins = table.group_mean(method, tasks), table.wins(method, tasks)
            row.append(("-" if mean is None else f"{100 * mean:.1f}") + ("" if wins is None else f" ({wins})"))
        rows.append(row)
    return header, rows


def overfitting_lines(table: Table) -> list[str]:
    """Per task and method: how many final runs the overfitting detector flags."""
    header = ["task", *table.methods]
    lines = [
        "Overfitting detector (runs flagged / runs):",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for task in table.tasks:
        cells = [table.cells[task].get(m) for m in table.methods]
        lines.append(
            "| "
            + " | ".join(
                [task] + ["-" if c is None else f"{c.verdicts.count(OVERFITTING)}/{len(c.verdicts)}" for c in cells]
            )
            + " |"
        )
    return [*lines, "", f"Rule: {RULE}", ""]


def to_markdown(report: Report) -> str:
    lines = [
        "# vptstudy report",
        "",
        "Final test top-1 accuracy (%), mean ± std over seeds; group means with the number of tasks on which "
        "the method beats FT in parentheses; tuned % = trainable / total parameters.",
        "",
    ]
    for table in report.tables:
        header, rows = table_rows(table)
        lines += [f"## {table.study}: {table.regime}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        seeds = sorted({len(c.accs) for per in table.cells.values() for c in per.values()})
        lines += ["", f"Seeds per cell: {', '.join(map(str, seeds))}.", ""]
        lines += overfitting_lines(table)
    if report.failed:
        lines += ["## Failed runs", ""] + [f"- {r.get('run_dir', '?')}: {r.get('reason')}" for r in report.failed]
        lines.append("")
    if report.incomplete:
        lines += ["## Incomplete runs (no result.json)", ""] + [f"- {r}{stopped_note(r)}" for r in report.incomplete]
        lines.append("")
    if report.orphans:
        lines += ["## Orphan final runs (not the choice search.json records; not averaged)", ""]
        lines += [f"- {r}" for r in report.orphans] + [""]
    if report.corrupt:
        lines += [f"## Damaged files ({report.corrupt_runs} runs excluded from every mean)", ""]
        lines += [f"- {line}" for line in report.corrupt] + [""]
    return "\n".join(lines)


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["study", "regime", "group", "task", "method", "mean_acc", "std_acc", "seeds", "tuned_pct", "beats_ft"]
    )
    for table in report.tables:
        for task in table.tasks:
            for method, cell in table.cells[task].items():
                ft = table.cells[task].get(BASELINE)
                beats = "" if method == BASELINE or ft is None else int(cell.mean > ft.mean)
                writer.writerow(
                    [
                        table.study,
                        table.regime,
                        table.groups[task],
                        task,
                        method,
                        f"{cell.mean:.6f}",
                        f"{cell.std:.6f}",
                        len(cell.accs),
                        "" if cell.tuned_pct is None else f"{cell.tuned_pct:.4f}",
                        beats,
                    ]
                )
    return buffer.getvalue()


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write report.md and report.csv (atomically) into ``out_dir``."""
    md, csv_path = out_dir / "report.md", out_dir / "report.csv"
    runs.atomic_write_bytes(md, to_markdown(report).encode())
    runs.atomic_write_bytes(csv_path, to_csv(report).encode())
    return md, csv_path


def stopped_note(run: str | Path) -> str:
    """`` (stopped at epoch k ...)`` for a tuning run successive halving paused at a rung, else ``""``."""
    from vptstudy.rungs import read_stopped

    record = read_stopped(Path(run))
    return "" if record is None else f" (stopped at epoch {record['epoch']}: successive halving)"
