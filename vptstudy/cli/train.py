"""``vptstudy train``: one run, or a grid / halving search of one task and method."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand

from vptstudy import validate
from vptstudy.cli.executor_options import ExecutorOptions, with_executor
from vptstudy.cli.options import (
    DryRunOpt,
    JsonOpt,
    LoggerOpt,
    NormalizeOpt,
    check_json,
    floats,
    ints,
    method_options,
)
from vptstudy.cli.running import execute_study, normalize_note, print_dry_run
from vptstudy.config import PAPER_MODEL, RunConfig
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
def train(
    ctx: typer.Context,
    task: Annotated[str, typer.Option(help="Task name (see `vptstudy tasks`), e.g. toy/digits.")],
    method: Annotated[str, typer.Option(help="A registered method (listed by --help).")],
    model: Annotated[str, typer.Option(help="timm ViT or Swin name (with pretrained tag) or toy-vit.")] = PAPER_MODEL,
    pretrained: Annotated[bool, typer.Option(help="Load the backbone's pretrained weights.")] = True,
    weights: Annotated[
        Path | None, typer.Option(help="Local .safetensors/.pth/.npz backbone weights (MAE; MoCo v3 .pth.tar).")
    ] = None,
    img_size: Annotated[int | None, typer.Option(help="Input size (default: the backbone's).")] = None,
    prompts: Annotated[
        int | None, typer.Option("--prompts", help="Prompt length p (default: the task's, else 10).")
    ] = None,
    prompt_dropout: Annotated[float | None, typer.Option(help="Default 0.1 deep, 0.0 shallow.")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs per phase (FT-then-PT runs two phases).")] = 100,
    warmup_epochs: Annotated[
        int | None, typer.Option(help="Linear warm-up epochs (default: FT 5, others 10, per 100 epochs).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size (default: FT 128, others 64); lr = base lr * batch / 256.")
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Base lr (default: the method's).")] = None,
    wd: Annotated[float | None, typer.Option("--wd", help="Weight decay (default: the method's).")] = None,
    method_option: Annotated[
        list[str] | None, typer.Option("--method-option", help="Method option KEY=VALUE (repeatable), e.g. rank=8.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 42,
    split: Annotated[str, typer.Option(help="tune (train800 -> val200) or final (train800val200 -> test).")] = "tune",
    train_size: Annotated[int | None, typer.Option(help="Train size N (val N/4), data-size regime.")] = None,
    shots: Annotated[int | None, typer.Option(help="k images per class for train and val.")] = None,
    shots_protocol: Annotated[
        str, typer.Option(help="How --shots draws: draws (seeded, from the pool) or study (train800/val200).")
    ] = "draws",
    split_seed: Annotated[int, typer.Option(help="Seed of the data split.")] = 0,
    test_subsample: Annotated[
        int | None, typer.Option(help="Test images per epoch for curves (default 1000; 0: all).")
    ] = None,
    backbone_dropout: Annotated[
        float | None, typer.Option(help="Backbone dropout where the encoder trains (default 0.1 FT, else 0).")
    ] = None,
    head_init: Annotated[
        str | None, typer.Option(help="official (kaiming fan_out, the study's; default) or timm.")
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="Data folder (default: $VPTSTUDY_DATA or ./data).")] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch a missing torchvision dataset.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Tensor cache folder (default: next to the data).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA), fp32 or bf16.")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    checkpoint_minutes: Annotated[
        float, typer.Option(help="Resumable checkpoint at an epoch's end once this many minutes passed (0: every).")
    ] = 5.0,
    normalize: NormalizeOpt = "imagenet",
    logger: LoggerOpt = None,
    out_dir: Annotated[Path, typer.Option(help="Root folder of run directories.")] = Path("runs"),
    study: Annotated[str, typer.Option(help="Study name (first run-directory level).")] = "adhoc",
    search: Annotated[
        str | None,
        typer.Option(help="'grid': lr x wd on val, then final seeds; 'halving': successive halving of that grid."),
    ] = None,
    rungs: Annotated[
        str | None, typer.Option(help="Halving rungs / tuning val epochs, in epochs of 100 (default 10,30).")
    ] = None,
    eta: Annotated[int, typer.Option(help="Halving: the top 1/eta continue at each rung.")] = 3,
    lrs: Annotated[str | None, typer.Option(help="Search: base lrs, e.g. 1,0.5 (default: method's grid).")] = None,
    wds: Annotated[str | None, typer.Option(help="Search: weight decays (default: the paper's grid).")] = None,
    seeds: Annotated[str | None, typer.Option(help="Search: final seeds (default 42,44,82,100,800).")] = None,
    executor: ExecutorOptions = ExecutorOptions(),
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train one run of a method (FT, VPT, LoRA, E2VPT, ... see --method), or a grid search with --search."""
    from vptstudy.api import fit_run as fit
    from vptstudy.console import TrainProgress, make_progress, print_results

    cfg = RunConfig(
        task=task,
        method=method,
        model=model,
        pretrained=pretrained,
        weights=str(weights) if weights else None,
        img_size=img_size,
        num_prompts=prompts,
        prompt_dropout=prompt_dropout,
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        batch_size=batch_size,
        base_lr=lr,
        weight_decay=wd,
        seed=seed,
        split=split,
        train_size=train_size,
        shots=shots,
        shots_protocol=shots_protocol,
        split_seed=split_seed,
        test_subsample=test_subsample,
        backbone_dropout=backbone_dropout,
        head_init=head_init,
        data_root=str(data_root) if data_root else None,
        download=download,
        cache_dir=str(cache_dir) if cache_dir else None,
        device=device,
        precision=precision,
        compile=compile,
        checkpoint_minutes=checkpoint_minutes,
        out_dir=str(out_dir),
        study=study,
        method_options=method_options(method_option),
        logger=logger,
        normalize=normalize,
        rungs=ints(rungs, "--rungs") or (),
    )
    validate.method_options(cfg.method, cfg.method_options)
    executor.gpu_ids()  # also without --search, where --gpus would be ignored
    check_json(dry_run, as_json)
    if search is not None:
        _search_only(ctx)
        found = _search_from_options(cfg, search, eta, lrs, wds, seeds)
        execute_study(found, executor.spec(), dry_run, as_json)
        return
    if dry_run:
        from vptstudy.dryrun import planned
        from vptstudy.plan import plan as resolve

        print_dry_run([planned(resolve(cfg), cfg.split)], f"{task} {method}: resolved plan", as_json)
        return
    with make_progress() as progress:
        result = fit(cfg, TrainProgress(progress, f"{task} {method}"))
    _raise_if_busy(result)
    print_results([result], title="Run summary")
    normalize_note(cfg.normalize, cfg.model)  # after the work: an error stays the only line


def _search_from_options(
    cfg: RunConfig, search: str, eta: int, lrs: str | None, wds: str | None, seeds: str | None
) -> Study:
    """The search Study that ``--search`` with ``--eta/--lrs/--wds/--seeds`` asks for."""
    if search not in ("grid", "halving"):
        raise UserError(f"unknown search {search!r}", "--search", "use --search grid or --search halving")
    if eta < 2:
        raise UserError(f"invalid --eta {eta}", "--eta", "use 2 or more (3: the top third go on)")
    grid = {k: list(v) for k, v in (("lr", floats(lrs, "--lrs")), ("wd", floats(wds, "--wds"))) if v}
    return _search_study(cfg, search, eta, grid, ints(seeds, "--seeds"))


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
