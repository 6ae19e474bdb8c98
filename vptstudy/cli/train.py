"""``vptstudy train``: one run, or a grid / halving search of one task and method."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand

from vptstudy import validate
from vptstudy.cli.executor_options import ExecutorOptions, with_executor
from vptstudy.cli.options import DryRunOpt, JsonOpt, check_json, floats, ints
from vptstudy.cli.running import execute_study, normalize_note, print_dry_run
from vptstudy.cli.train_options import SearchOptions, TrainRunOptions, with_search, with_train_run
from vptstudy.config import RunConfig
from vptstudy.errors import UserError

if TYPE_CHECKING:
    from vptstudy.study import Study


class TrainCommand(TyperCommand):
    """``vptstudy train``, whose --method help lists the registered methods (imported only when help is shown)."""

    def format_help(self, ctx, formatter) -> None:
        from vptstudy.methods import METHODS

        for param in self.params:
            if param.name == "method":
                param.help = f"One of: {', '.join(METHODS)}."
        super().format_help(ctx, formatter)


@with_executor
@with_search
@with_train_run
def train(
    ctx: typer.Context,
    run: TrainRunOptions,
    searching: SearchOptions = SearchOptions(),
    executor: ExecutorOptions = ExecutorOptions(),
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train one run of a method (FT, VPT, LoRA, E2VPT, ... see --method), or a grid search with --search."""
    cfg = run.config(searching.rungs)
    validate.method_options(cfg.method, cfg.method_options)
    executor.gpu_ids()  # also without --search, where --gpus would be ignored
    check_json(dry_run, as_json)
    if searching.search is not None:
        _search_only(ctx)
        found = _search_from_options(cfg, searching)
        execute_study(found, executor.spec(), dry_run, as_json)
        return
    if dry_run:
        from vptstudy.dryrun import planned
        from vptstudy.plan import plan as resolve

        print_dry_run([planned(resolve(cfg), cfg.split)], f"{cfg.task} {cfg.method}: resolved plan", as_json)
        return
    _fit_one(cfg)


def _fit_one(cfg: RunConfig) -> None:
    """Train one run with a progress bar, then print its summary (and the normalisation note)."""
    from vptstudy.api import fit_run as fit
    from vptstudy.console import TrainProgress, make_progress, print_results

    with make_progress() as progress:
        result = fit(cfg, TrainProgress(progress, f"{cfg.task} {cfg.method}"))
    _raise_if_busy(result)
    print_results([result], title="Run summary")
    normalize_note(cfg.normalize, cfg.model)  # after the work: an error stays the only line


def _search_from_options(cfg: RunConfig, opts: SearchOptions) -> Study:
    """The search Study that ``--search`` with ``--eta/--lrs/--wds/--seeds`` asks for."""
    if opts.search not in ("grid", "halving"):
        raise UserError(f"unknown search {opts.search!r}", "--search", "use --search grid or --search halving")
    if opts.eta < 2:
        raise UserError(f"invalid --eta {opts.eta}", "--eta", "use 2 or more (3: the top third go on)")
    grid = {k: list(v) for k, v in (("lr", floats(opts.lrs, "--lrs")), ("wd", floats(opts.wds, "--wds"))) if v}
    return _search_study(cfg, opts.search, opts.eta, grid, ints(opts.seeds, "--seeds"))


def _raise_if_busy(result: dict) -> None:
    """A run another process is training is an error here (one line naming the lock's owner)."""
    if result.get("status") == "busy":
        from vptstudy import locks, runs

        lock = Path(result["run_dir"]) / runs.LOCK
        raise UserError(
            f"the run is being trained by another process ({locks.describe(lock)})",
            result["run_dir"],
            "wait for it to finish, or stop that process (a lock whose process is gone is taken over)",
        )


# options that name one run: a search sets them itself (lr, wd per candidate; tune then final; its seeds)
ONE_RUN_OPTIONS = {"lr": "--lr", "wd": "--wd", "seed": "--seed", "split": "--split"}


def _search_only(ctx: typer.Context) -> None:
    """``--search`` with an option of one run is an error: the search would silently ignore it."""
    sources = {name: ctx.get_parameter_source(name) for name in ONE_RUN_OPTIONS}
    given = [flag for name, flag in ONE_RUN_OPTIONS.items() if getattr(sources[name], "name", "DEFAULT") != "DEFAULT"]
    if given:
        raise UserError(
            f"{given[0]} sets one run, --search sets it per run",
            given[0],
            "leave it out (a search tries --lrs x --wds on split tune, then trains --seeds on split final)",
        )


def _search_study(cfg: RunConfig, mode: str, eta: int, grid: dict, seeds: tuple[int, ...] | None) -> Study:
    """The one-task, one-method search study of ``train --search``, validated as a study file is."""
    from vptstudy.study import RUN_KEYS, parse_study

    run = {k: v for k, v in cfg.to_dict().items() if k in RUN_KEYS and v not in (None, (), {})}
    run.update(split_seed=cfg.split_seed, search=mode, eta=eta)
    if "rungs" in run:
        run["rungs"] = list(run["rungs"])
    data = {"name": cfg.study, "kind": "search", "tasks": [cfg.task], "methods": [cfg.method], "run": run}
    if grid:
        data["grid"] = {cfg.method: grid}
    if seeds:
        data["seeds"] = list(seeds)
    return parse_study(data, "command line")
