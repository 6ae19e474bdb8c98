"""``vptstudy tasks``, ``report`` and ``export``: what is there, and what the runs show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vptstudy.cli.options import NormalizeOpt, old_name, renamed
from vptstudy.config import PAPER_MODEL
from vptstudy.errors import UserError


def tasks(
    data_root: Annotated[
        Path | None, typer.Option(help="Data folder to look in (default: $VPTSTUDY_DATA or ./data).")
    ] = None,
    model: Annotated[str, typer.Option(help="Backbone whose input normalisation to show.")] = PAPER_MODEL,
    normalize: NormalizeOpt = "imagenet",
) -> None:
    """List the tasks: group, classes, task disparity, sources present on this machine and how to get the data."""
    from vptstudy.console import out, print_tasks
    from vptstudy.data.paths import data_root as resolve_root
    from vptstudy.data.status import LAYOUTS, task_rows

    root = resolve_root(str(data_root) if data_root else None)
    print_tasks(root, task_rows(root), LAYOUTS)
    from vptstudy.normalize import describe

    out.print(f"inputs for {model}: {describe(normalize, model)}", highlight=False)


def report(
    runs_dir: Annotated[Path, typer.Argument(help="Folder of run directories (a study or the whole out dir).")],
    out_dir: Annotated[Path | None, typer.Option(help="Folder for report.md/.csv (default: RUNS_DIR).")] = None,
    paper: Annotated[
        bool, typer.Option("--paper", help="Also compare with the paper's Tables 1-6 (writes paper.md, paper.csv).")
    ] = False,
    old_out: Annotated[Path | None, old_name("--out")] = None,
) -> None:
    """Paper-style tables: mean ± std test accuracy, group means, wins against FT; markdown + CSV."""

    from vptstudy.analysis.tables import collect, stopped_note, table_rows, write_report
    from vptstudy.console import grid_table
    from vptstudy.console import out as stdout

    if not runs_dir.is_dir():
        raise UserError(f"runs folder {str(runs_dir)!r} not found", "RUNS_DIR", "pass the --out-dir of your runs")
    rep = collect(runs_dir)
    if not rep.tables and not rep.failed and not rep.incomplete and not rep.corrupt:
        from vptstudy.runs import iter_runs

        tuning = sum(1 for _ in iter_runs(runs_dir))
        if tuning:  # only final runs have a test accuracy to tabulate
            raise UserError(
                f"no final runs under {str(runs_dir)!r}, only {tuning} tuning run(s), which evaluate no test split",
                "RUNS_DIR",
                "train with --split final, or run a search (--search grid) to get final runs",
            )
        raise UserError(f"no runs under {str(runs_dir)!r}", "RUNS_DIR", "pass the folder your sweeps wrote to")
    for table in rep.tables:
        header, rows = table_rows(table)
        title = f"{table.study}: {table.regime} (test acc %, mean ± std; wins vs FT)"
        rich_table = grid_table(title, header, rows)
        natural = stdout.measure(rich_table, options=stdout.options.update_width(10_000)).maximum
        if natural > stdout.width:  # too wide: one row per task, one column per method
            columns = list(zip(header, *rows, strict=True))
            rich_table = grid_table(title, ["", *columns[0][1:]], [list(c) for c in columns[1:]])
        stdout.print(rich_table)
    for failed in rep.failed:
        stdout.print(f"[red]failed:[/] {failed.get('run_dir')}: {failed.get('reason')}")
    for run in rep.incomplete:
        stdout.print(f"[yellow]incomplete:[/] {run}{stopped_note(run)}")
    for run in rep.orphans:
        stdout.print(f"[yellow]orphan (not the recorded choice, not averaged):[/] {run}", soft_wrap=True)
    for line in rep.corrupt:
        stdout.print(line, soft_wrap=True, markup=False, highlight=False)
    if rep.corrupt:
        stdout.print(f"excluded {rep.corrupt_runs} corrupt run(s) from every mean ({len(rep.corrupt)} damaged files)")
    out_dir = renamed(out_dir, old_out, "--out", "--out-dir") or runs_dir
    md, csv_path = write_report(rep, out_dir)
    stdout.print(f"wrote {md} and {csv_path}")
    if paper:
        _report_paper(rep, out_dir)


def _report_paper(rep, out_dir: Path) -> None:
    """``report --paper``: our means next to the paper's, per task and method, and paper.csv."""
    from vptstudy.analysis import paper
    from vptstudy.console import grid_table
    from vptstudy.console import out as stdout
    from vptstudy.runs import atomic_write_bytes

    items = paper.comparisons(rep)
    if not items:
        regimes = ", ".join(paper.load_paper().regimes())
        stdout.print(f"--paper: no runs in a regime the paper reports ({regimes})")
        return
    for c in items:
        rich_table = grid_table(paper.title(c), *paper.wide_rows(c))
        if stdout.measure(rich_table, options=stdout.options.update_width(10_000)).maximum > stdout.width:
            rich_table = grid_table(paper.title(c), *paper.long_rows(c))
        stdout.print(rich_table)
        stdout.print(paper.summary(c))
    atomic_write_bytes(out_dir / "paper.md", paper.to_markdown(items).encode())
    atomic_write_bytes(out_dir / "paper.csv", paper.to_csv(items).encode())
    stdout.print(f"wrote {out_dir / 'paper.md'} and {out_dir / 'paper.csv'}")


def export(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders holding them.")],
    to: Annotated[str, typer.Option("--to", metavar="NAME", help="tensorboard or wandb.")] = "tensorboard",
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder of the tracker's files.")] = Path("tb-export"),
) -> None:
    """Replay finished runs (config.json + metrics.jsonl) into TensorBoard event files or W&B runs."""
    from vptstudy.console import out as stdout
    from vptstudy.figures.select import find_runs
    from vptstudy.loggers import check_logger, export_runs

    check_logger(to, "--to")
    written = export_runs([r.path for r in find_runs(runs, complete=True)], to, out_dir)
    stdout.print(f"exported {len(written)} run(s) to {to} under {out_dir}", soft_wrap=True)
    if to == "tensorboard":
        stdout.print(f"view them with: tensorboard --logdir {out_dir}", soft_wrap=True)
