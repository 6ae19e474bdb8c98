"""``vptstudy run`` (a study file) and ``sweep-datasize`` / ``sweep-oneshot`` (a study from options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vptstudy.cli.executor_options import ExecutorOptions, with_executor
from vptstudy.cli.options import (
    DryRunOpt,
    JsonOpt,
    LoggerOpt,
    check_json,
    ints,
)
from vptstudy.cli.running import execute_study
from vptstudy.cli.sweep_options import SweepRunOptions, with_sweep_run
from vptstudy.errors import UserError


def _sweep_study(
    kind: str,
    study_file: Path | None,
    name: str,
    tasks: list[str] | None,
    methods: list[str] | None,
    seeds: str | None,
    search: bool | None,
    run: dict,
    section: dict,
):
    """A study from --study FILE, or from the sweep command's own options."""
    from vptstudy.study import load_study, parse_study

    if study_file is not None:
        study = load_study(study_file)
        if study.kind != kind:
            raise UserError(
                f"study kind is {study.kind!r}, this command runs {kind!r}",
                str(study_file),
                f"use `vptstudy run {study_file}` or a study with kind = {kind!r}",
            )
        return study
    if not tasks or not methods:
        raise UserError("no tasks or methods given", "--task/--method", "pass --task and --method, or --study FILE")
    data = {
        "name": name,
        "kind": kind,
        "tasks": tasks,
        "methods": methods,
        "run": {k: v for k, v in run.items() if v is not None},
        kind: {**section, **({"search": search} if search is not None else {})},
    }
    if seeds is not None:
        data["seeds"] = list(ints(seeds, "--seeds") or ())
    return parse_study(data, "command line")


TaskListOpt = Annotated[list[str] | None, typer.Option("--task", help="Task (repeat for several).")]
MethodListOpt = Annotated[list[str] | None, typer.Option("--method", help="Method (repeat for several).")]
StudyFileOpt = Annotated[Path | None, typer.Option("--study", help="Study TOML file instead of options.")]


@with_executor
@with_sweep_run
def sweep_datasize(
    study_file: StudyFileOpt = None,
    task: TaskListOpt = None,
    method: MethodListOpt = None,
    sizes: Annotated[str, typer.Option(help="Train sizes (val = size/4).")] = "400,800,1000,1200,5000,10000,20000",
    split_seeds: Annotated[str, typer.Option(help="Seeds of the size splits.")] = "0",
    seeds: Annotated[str | None, typer.Option(help="Final seeds (default 42,44,82,100,800).")] = None,
    search: Annotated[bool, typer.Option("--search/--fixed", help="Fresh lr x wd search per size, or fixed.")] = True,
    run: SweepRunOptions = SweepRunOptions(),
    name: Annotated[str, typer.Option("--name", help="Study name.")] = "datasize",
    executor: ExecutorOptions = ExecutorOptions(),
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Data-size sweep (paper section 4.4): each train size at train:val = 4:1, per method and seed."""
    check_json(dry_run, as_json)
    sizes_list, split_seed_list = list(ints(sizes, "--sizes") or ()), list(ints(split_seeds, "--split-seeds") or ())
    section = {"sizes": sizes_list, "split_seeds": split_seed_list}
    study = _sweep_study("datasize", study_file, name, task, method, seeds, search, run.table(), section)
    execute_study(study, executor.spec(), dry_run, as_json)


@with_executor
@with_sweep_run
def sweep_oneshot(
    study_file: StudyFileOpt = None,
    task: TaskListOpt = None,
    method: MethodListOpt = None,
    shots: Annotated[int, typer.Option(help="Images per class for train and for val.")] = 1,
    draws: Annotated[
        int | None, typer.Option(help="Seeded draws, each its own split seed (default 5; 1 for --protocol study).")
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(help="draws: seeded draws from the pool; study: the study code's train800/val200 draw."),
    ] = "draws",
    seeds: Annotated[str | None, typer.Option(help="Training seeds per draw (default 42,44,82,100,800).")] = None,
    search: Annotated[
        bool | None,
        typer.Option("--search/--fixed", help="lr x wd search per draw, or fixed (default: search for study)."),
    ] = None,
    run: SweepRunOptions = SweepRunOptions(),
    name: Annotated[str, typer.Option("--name", help="Study name.")] = "oneshot",
    executor: ExecutorOptions = ExecutorOptions(),
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """One-shot sweep (paper Tables 3-4): k images per class for train and val, several seeded draws."""
    check_json(dry_run, as_json)
    section = {"shots": shots, "protocol": protocol, **({"draws": draws} if draws is not None else {})}
    study = _sweep_study("oneshot", study_file, name, task, method, seeds, search, run.table(), section)
    execute_study(study, executor.spec(), dry_run, as_json)


@with_executor
def run_cmd(
    study_file: Annotated[Path, typer.Argument(help="Study TOML file, e.g. studies/vtab1k.toml.")],
    out_dir: Annotated[Path | None, typer.Option(help="Root folder of run directories (default: the study's).")] = None,
    logger: LoggerOpt = None,
    executor: ExecutorOptions = ExecutorOptions(),
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a study file (search, datasize or oneshot); complete runs are skipped, partial ones resume."""
    check_json(dry_run, as_json)
    from vptstudy.study import load_study, with_run

    study = load_study(study_file)
    changes = {"out_dir": str(out_dir) if out_dir is not None else None, "logger": logger}
    study = with_run(study, "command line", **{k: v for k, v in changes.items() if v is not None})
    execute_study(study, executor.spec(), dry_run, as_json)
