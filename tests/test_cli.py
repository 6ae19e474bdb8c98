"""The cli package: the option groups (executor, sweep run, train, fid, bench) are declared once and reach every
command that takes them, whole and in place; train's --search rules; no table is drawn in the cli."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from pathlib import Path

import pytest
import typer

from tests.helpers.cli import run_cli
from vptstudy import cli
from vptstudy.cli.bench import BenchOptions
from vptstudy.cli.executor_options import ExecutorOptions
from vptstudy.cli.fid import FidOptions
from vptstudy.cli.sweep_options import SweepRunOptions
from vptstudy.cli.train_options import SearchOptions, TrainRunOptions

EXECUTOR_FLAGS = {
    "--executor",
    "--gpus",
    "--workers-per-gpu",
    "--workers",
    "--partition",
    "--time",
    "--runs-per-job",
    "--array-parallelism",
}
STUDY_COMMANDS = ("train", "run", "sweep-datasize", "sweep-oneshot")


def _flags(name: str) -> list[str]:
    command = typer.main.get_command(cli.app).commands[name]  # type: ignore[attr-defined]
    return [opt for param in command.params for opt in getattr(param, "opts", [])]


def test_every_study_command_has_the_executor_options_before_dry_run() -> None:
    for name in STUDY_COMMANDS:
        flags = _flags(name)
        assert EXECUTOR_FLAGS <= set(flags), name
        assert max(flags.index(f) for f in EXECUTOR_FLAGS) < flags.index("--dry-run"), name


def test_executor_options_are_declared_in_one_place() -> None:
    sources = {p.name: p.read_text() for p in Path(cli.__file__).parent.glob("*.py")}
    for flag in EXECUTOR_FLAGS:
        declared = [name for name, text in sources.items() if f'"{flag}"' in text]
        assert declared == ["executor_options.py"], (flag, declared)


GROUPS = {
    ExecutorOptions: set(STUDY_COMMANDS),
    SweepRunOptions: {"sweep-datasize", "sweep-oneshot"},
    TrainRunOptions: {"train"},
    SearchOptions: {"train"},
    FidOptions: {"fid"},
    BenchOptions: {"bench"},
}


@pytest.mark.parametrize("group", list(GROUPS), ids=lambda g: g.__name__)
def test_option_groups_reach_their_commands_whole_and_are_never_redeclared(group) -> None:
    """A command offers all of a group's options only through the group's parameter (never declaring them
    itself), in the group's order and in one block of its --help; the group reaches exactly its commands."""
    names = [f.name for f in fields(group)]
    commands = typer.main.get_command(cli.app).commands  # type: ignore[attr-defined]
    users = set()
    for registered in cli.app.registered_commands:
        name = registered.name or registered.callback.__name__.replace("_", "-")
        own = inspect.signature(inspect.unwrap(registered.callback), eval_str=True).parameters
        params = [p.name for p in commands[name].params]
        uses = any(p.annotation is group for p in own.values())
        assert uses == (set(names) <= set(params)), (name, "declares the options itself" if not uses else "")
        if uses:
            users.add(name)
            at = params.index(names[0])
            assert params[at : at + len(names)] == names, name
    assert users == GROUPS[group]


def test_executor_options_build_the_spec(monkeypatch) -> None:
    monkeypatch.setattr("vptstudy.executors.usable_cores", lambda: 2)
    spec = ExecutorOptions(workers=2, runs_per_job=2, time=30).spec()
    assert (spec.kind, spec.workers, spec.runs_per_job, spec.time_min, spec.gpus) == ("local", 2, 2, 30, ())


@pytest.mark.parametrize("given", [["--lr", "0.1"], ["--wd", "0"], ["--seed", "42"], ["--split", "final"]])
def test_search_with_an_option_of_one_run_is_an_error(given, capsys, monkeypatch) -> None:
    argv = ["train", "--task", "toy/digits", "--method", "ft", "--model", "toy-vit", "--search", "grid"]
    res = run_cli([*argv, *given, "--dry-run"], capsys, monkeypatch)
    assert res.code == 2 and res.out == ""
    assert res.err.strip().splitlines() == [
        f"vptstudy: error: {given[0]} sets one run, --search sets it per run ({given[0]}): "
        "leave it out (a search tries --lrs x --wds on split tune, then trains --seeds on split final)"
    ]


def test_search_study_is_validated_like_a_study_file(capsys, monkeypatch) -> None:
    argv = ["train", "--task", "toy/digits", "--method", "ft", "--model", "toy-vit", "--search", "grid"]
    res = run_cli([*argv, "--split-seed", "3", "--seeds", "7", "--dry-run", "--json"], capsys, monkeypatch)
    assert res.code == 0, res.err
    dirs = [r["run_dir"] for r in json.loads(res.out)["run_list"]]
    assert any("/s3-tune/" in d for d in dirs) and any("/s3-final/" in d for d in dirs), dirs[:3]
    assert all(("/s3-tune/" in d or "/s3-final/" in d) and d.endswith("/seed7") for d in dirs)


def test_no_rich_table_is_drawn_in_the_cli() -> None:
    # tables live in vptstudy/console.py; the commands only pass it their rows
    for path in Path(cli.__file__).parent.glob("*.py"):
        assert "rich.table" not in path.read_text() and "Table(" not in path.read_text(), path.name
