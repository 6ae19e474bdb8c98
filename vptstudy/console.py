"""Rich rendering shared by the CLI commands: progress callbacks and result tables. (No Typer here.)"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=True)
out = Console()


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )


class TrainProgress:
    """A fit() callback that drives a rich progress bar: data loading, then steps across all phases."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label = progress, label
        self.load_task: Any = None
        self.task: Any = None
        self.phases_seen = 0

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        p = self.progress
        if event == "load":
            if self.load_task is None:
                self.load_task = p.add_task(f"{self.label} decode", total=info["total"], info="")
            p.update(self.load_task, completed=info["done"])
        elif event == "phase":
            total = info["steps"] * info["phases"]
            if self.task is None:
                self.task = p.add_task(self.label, total=total, info="")
            p.update(self.task, info=f"phase {info['name']} ({info['index'] + 1}/{info['phases']})")
        elif event == "step":
            p.advance(self.task)
        elif event == "epoch":
            val = "" if info["val_acc"] is None else f" val {pct(info['val_acc'])}%"
            p.update(
                self.task,
                info=f"{info['phase']} ep {info['phase_epoch']} loss {info['train_loss']:.3f}"
                f"{val} test {pct(info['test_acc'])}%",
            )
        elif event == "skip":
            console.print(f"[yellow]already complete, not run again:[/] {info['run_dir']}")


def results_table(results: list[dict[str, Any]], title: str = "Results") -> Table:
    """One row per run: method, tuned/total parameters, final accuracy / loss per split, time, status."""
    table = Table(title=title, caption="accuracy % / cross-entropy loss; run directories below")
    for col, justify in [
        ("task", "left"),
        ("method", "left"),
        ("tuned / total", "right"),
        ("train", "right"),
        ("val", "right"),
        ("test", "right"),
        ("time", "right"),
        ("status", "left"),
    ]:
        table.add_column(col, justify=justify)
    for r in results:
        f = r.get("final", {})
        table.add_row(
            r["task"],
            r["method"],
            f"{r['trainable_params']:,} / {r['total_params']:,}\n({r['trainable_pct']:.2f}%)",
            *(f"{pct(f.get(k + '_acc'))} / {num(f.get(k + '_loss'), 3)}" for k in ("train", "val", "test")),
            f"{r['wall_seconds']:.1f}s",
            r["status"],
        )
    return table


def print_results(results: list[dict[str, Any]], title: str = "Results") -> None:
    out.print(results_table(results, title))
    for r in results:
        out.print(f"run: {r['run_dir']}", soft_wrap=True)
