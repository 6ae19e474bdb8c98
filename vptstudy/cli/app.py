"""The vptstudy command line. Each command parses its options and calls one library function."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from vptstudy import validate
from vptstudy.cli_help import HelpGroup
from vptstudy.config import PAPER_MODEL, RunConfig
from vptstudy.errors import RunFailed, UserError

app = typer.Typer(
    name="vptstudy",
    help="Visual prompt tuning or full fine-tuning? Run the ICLR 2024 study on timm ViTs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    cls=HelpGroup,
    rich_markup_mode=None,
)
STATE = {"debug": False}


def _floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"cannot read {text!r} as numbers", option, "use a comma-separated list, e.g. 1,0.5") from None
    for value in values:
        validate.finite(value, option)
    return values


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    values = _floats(text, option)
    if values is not None and any(v != int(v) for v in values):
        raise UserError(f"{text!r} holds non-integers", option, "use whole numbers, e.g. 42,44")
    return None if values is None else tuple(int(v) for v in values)


def _option_value(text: str) -> Any:
    """A method option's value: true/false, an int, a float, or the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _method_options(items: list[str] | None) -> tuple[tuple[str, Any], ...]:
    """``--method-option KEY=VALUE`` items as RunConfig.method_options (sorted; the last of a repeated key wins)."""
    options: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"cannot read method option {item!r}", "--method-option", "write KEY=VALUE, e.g. rank=8")
        options[key.strip()] = _option_value(text.strip())
    return tuple(sorted(options.items()))


class _TrainCommand(TyperCommand):
    """``vptstudy train``, whose --method help lists the registered methods (imported only when help is shown)."""

    def format_help(self, ctx, formatter) -> None:
        from vptstudy.methods import METHODS

        for param in self.params:
            if param.name == "method":
                param.help = f"One of: {', '.join(METHODS)}."
        super().format_help(ctx, formatter)


NormalizeOpt = Annotated[
    str, typer.Option("--normalize", metavar="NAME", help="imagenet (mean/std, the paper's) or backbone (timm cfg).")
]
LoggerOpt = Annotated[
    str | None, typer.Option("--logger", metavar="NAME", help="Also stream each epoch to tensorboard or wandb.")
]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (default) or slurm (submitit).")]
GpusOpt = Annotated[str | None, typer.Option("--gpus", help="Local: GPU ids for one worker each, e.g. 0,1.")]
WorkersPerGpuOpt = Annotated[int, typer.Option("--workers-per-gpu", help="Local: workers per listed GPU.")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Local without --gpus: CPU worker processes.")]
PartitionOpt = Annotated[str | None, typer.Option("--partition", help="Slurm partition.")]
TimeOpt = Annotated[int, typer.Option("--time", help="Slurm time limit per job, minutes.")]
RunsPerJobOpt = Annotated[int, typer.Option("--runs-per-job", help="Slurm: runs per array task.")]
ParallelOpt = Annotated[int, typer.Option("--array-parallelism", help="Slurm: array tasks at once.")]


def _executor(
    executor: str,
    gpus: str | None,
    workers_per_gpu: int,
    workers: int,
    partition: str | None,
    time_min: int,
    runs_per_job: int,
    array_parallelism: int,
):
    from vptstudy.executors import ExecutorSpec

    ids = _ints(gpus, "--gpus") or ()
    validate.gpus(ids)
    return ExecutorSpec(
        kind=executor,
        gpus=ids,
        workers_per_gpu=workers_per_gpu,
        workers=workers,
        partition=partition,
        time_min=time_min,
        runs_per_job=runs_per_job,
        array_parallelism=array_parallelism,
    )


def _normalize_note(normalize: str, model: str) -> None:
    """One line on stderr when the backbone was pretrained with another mean/std than the one in force."""
    from vptstudy.normalize import mismatch_note

    note = mismatch_note(normalize, model)
    if note:
        print(f"vptstudy: {note}", file=sys.stderr)


DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the resolved plans, the run count and the images; run nothing.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="With --dry-run: print the plans as JSON (for scripts).")]


def _check_json(dry_run: bool, as_json: bool) -> None:
    if as_json and not dry_run:
        raise UserError("--json prints a dry run's plans", "--json", "add --dry-run, or leave out --json")


def _print_dry_run(items: list, title: str, as_json: bool) -> None:
    """The dry run's table and totals (or its JSON); nothing is trained or written."""
    import json

    from vptstudy import dryrun
    from vptstudy.console import out

    data = dryrun.summary(items)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return
    tab = dryrun.table(data, title)
    if out.measure(tab, options=out.options.update_width(10_000)).maximum <= out.width:
        out.print(tab)
    else:  # too wide for this terminal: one line per plan
        out.print(f"[bold]{title}[/]")
        for line in dryrun.plan_lines(data):
            out.print(f"- {line}", highlight=False)
    out.print(dryrun.totals_line(data))
    from vptstudy.normalize import describe

    for normalize, model in sorted({(i.plan.cfg.normalize, i.plan.cfg.model) for i in items}):
        out.print(f"inputs for {model}: {describe(normalize, model)}", highlight=False)


def _run_study(study, spec, dry_run: bool = False, as_json: bool = False) -> None:
    from vptstudy.console import SweepProgress, make_progress, out, summary_table
    from vptstudy.sweep import run_study

    if dry_run:
        from vptstudy.dryrun import study_runs

        _print_dry_run(study_runs(study), f"Study {study.name} ({study.kind}): resolved plans", as_json)
        return

    with make_progress() as progress:
        summaries = run_study(study, spec, SweepProgress(progress))
    out.print(summary_table(summaries, title=f"Study {study.name} ({study.kind})"))
    _normalize_note(study.run.get("normalize", "imagenet"), study.run.get("model", PAPER_MODEL))
    failed = _study_failures(summaries)
    if failed:
        raise RunFailed(f"study {study.name}: {failed}")


def _study_failures(summaries: list[dict]) -> str:
    """How many final runs did not finish and how many units chose no lr/wd ('' when all went well)."""
    finals = [r for s in summaries for r in s["results"]]
    bad = [r for r in finals if r.get("status") != "ok"]
    unchosen = [s for s in summaries if s["chosen"] is None]
    parts = []
    if bad:
        states = [r.get("status", "missing") for r in bad]
        kinds = ", ".join(f"{states.count(k)} {k}" for k in sorted(set(states)))
        parts.append(f"{len(bad)} of {len(finals)} final runs did not finish ({kinds})")
    if unchosen:
        parts.append(f"{len(unchosen)} of {len(summaries)} units had no search candidate finish")
    return "; ".join(parts)


def _renamed(value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of a renamed option; its old name still works, with a one-line note on stderr."""
    if old_value is None:
        return value
    print(f"vptstudy: note: {old} is now {new} (--out-dir names a folder, --out one file)", file=sys.stderr)
    return old_value


def _old_name(name: str) -> Any:
    """A hidden option that keeps an old flag name working (see :func:`_renamed`)."""
    return typer.Option(name, hidden=True, help=f"Old name of {name}.")


def _print_version(value: bool) -> None:
    if value:
        from vptstudy import __version__

        print(f"vptstudy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    allow_symlinks: Annotated[
        bool, typer.Option("--allow-symlinks", help="Follow symlinks that lead out of the data folder.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    STATE["debug"] = debug
    if allow_symlinks:  # an environment variable, so worker processes see it too
        from vptstudy.data.paths import ALLOW_SYMLINKS_ENV

        os.environ[ALLOW_SYMLINKS_ENV] = "1"


WIDE_TASKS_TABLE = 130  # columns the tasks table needs to hold "how to get it" readably


@app.command()
def tasks(
    data_root: Annotated[
        Path | None, typer.Option(help="Data folder to look in (default: $VPTSTUDY_DATA or ./data).")
    ] = None,
    model: Annotated[str, typer.Option(help="Backbone whose input normalisation to show.")] = PAPER_MODEL,
    normalize: NormalizeOpt = "imagenet",
) -> None:
    """List the tasks: group, classes, task disparity, sources present on this machine and how to get the data."""
    from rich.table import Table

    from vptstudy.console import out
    from vptstudy.data.paths import data_root as resolve_root
    from vptstudy.data.status import LAYOUTS, task_rows

    root = resolve_root(str(data_root) if data_root else None)
    wide = out.width >= WIDE_TASKS_TABLE  # narrow terminals: preprocessing and how to get the data go below
    table = Table(title=f"Tasks (data root: {root})", caption="; ".join(LAYOUTS))
    for col in ("task", "group", "classes", "disparity", "prompts", *(("preprocess",) if wide else ())):
        table.add_column(col, no_wrap=True)  # short values, and task names to copy: never broken
    table.add_column("available here", overflow="fold")
    if wide:
        table.add_column("how to get it", overflow="fold")
    rows = task_rows(root)
    for row in rows:
        prompts = str(row["prompts"] or "-")  # the study's per-task prompt length (VTAB-1k only)
        cells = [row["task"], row["group"], str(row["classes"] or "from data"), row["disparity"], prompts]
        extra = [row["preprocess"], row["available"], row["get_it"]] if wide else [row["available"]]
        table.add_row(*cells, *extra)
    out.print(table)
    if not wide:
        out.print("[bold]preprocessing and how to get the data[/]")
        for row in rows:
            out.print(f"  [bold]{row['task']}[/] ({row['preprocess']}): {row['get_it']}")
    from vptstudy.normalize import describe

    out.print(f"inputs for {model}: {describe(normalize, model)}", highlight=False)


@app.command(cls=_TrainCommand)
def train(
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
    executor: ExecutorOpt = "local",
    gpus: GpusOpt = None,
    workers_per_gpu: WorkersPerGpuOpt = 1,
    workers: WorkersOpt = 1,
    partition: PartitionOpt = None,
    time: TimeOpt = 240,
    runs_per_job: RunsPerJobOpt = 1,
    array_parallelism: ParallelOpt = 64,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train one run of a method (FT, VPT, LoRA, E2VPT, ... see --method), or a grid search with --search."""
    from vptstudy.console import TrainProgress, make_progress, print_results
    from vptstudy.train import fit

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
        method_options=_method_options(method_option),
        logger=logger,
        normalize=normalize,
        rungs=_ints(rungs, "--rungs") or (),
    )
    validate.method_options(cfg.method, cfg.method_options)
    validate.gpus(_ints(gpus, "--gpus") or ())  # also without --search, where --gpus would be ignored
    _check_json(dry_run, as_json)
    if search is not None:
        from vptstudy.config import FINAL_SEEDS
        from vptstudy.plan import search_grid
        from vptstudy.study import RUN_KEYS, Study

        if search not in ("grid", "halving"):
            raise UserError(f"unknown search {search!r}", "--search", "use --search grid or --search halving")
        if eta < 2:
            raise UserError(f"invalid --eta {eta}", "--eta", "use 2 or more (3: the top third go on)")
        default_lrs, default_wds = search_grid(method)
        run = {k: v for k, v in cfg.to_dict().items() if k in RUN_KEYS}
        run.update(split_seed=split_seed, method_options=cfg.method_options)
        plan = Study(
            name=study,
            kind="search",
            tasks=(task,),
            methods=(method,),
            seeds=_ints(seeds, "--seeds") or FINAL_SEEDS,
            run=run,
            grid={method: (_floats(lrs, "--lrs") or default_lrs, _floats(wds, "--wds") or default_wds)},
            search_mode=search,
            eta=eta,
        )
        _run_study(
            plan,
            _executor(executor, gpus, workers_per_gpu, workers, partition, time, runs_per_job, array_parallelism),
            dry_run,
            as_json,
        )
        return
    if dry_run:
        from vptstudy.dryrun import planned
        from vptstudy.plan import plan as resolve

        _print_dry_run([planned(resolve(cfg), cfg.split)], f"{task} {method}: resolved plan", as_json)
        return
    with make_progress() as progress:
        result = fit(cfg, TrainProgress(progress, f"{task} {method}"))
    if result.get("status") == "busy":
        from vptstudy import locks, runs

        lock = Path(result["run_dir"]) / runs.LOCK
        raise UserError(
            f"the run is being trained by another process ({locks.describe(lock)})",
            result["run_dir"],
            "wait for it to finish, or stop that process (a lock whose process is gone is taken over)",
        )
    print_results([result], title="Run summary")
    _normalize_note(cfg.normalize, cfg.model)  # after the work: an error stays the only line


@app.command("pretrain-toy")
def pretrain_toy(
    steps: Annotated[int, typer.Option(help="Optimizer steps; each draws a fresh batch.")] = 7000,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 64,
    lr: Annotated[float, typer.Option("--lr", help="Peak AdamW learning rate.")] = 1e-3,
    wd: Annotated[float, typer.Option("--wd", help="AdamW weight decay (weight matrices).")] = 0.05,
    warmup_steps: Annotated[
        int | None, typer.Option(help="Linear warm-up steps before cosine decay (default: 5% of --steps).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and the image stream.")] = 0,
    eval_images: Annotated[int, typer.Option(help="Held-out upstream images for the final accuracy.")] = 2000,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's); 1 suits a busy CPU.")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Output folder (default: the package's assets/).")] = None,
    old_out: Annotated[Path | None, _old_name("--out")] = None,
) -> None:
    """Pretrain the embedded toy ViT (--model toy-vit) on synthetic shapes; write its weights and JSON card."""
    from vptstudy.console import console, make_progress
    from vptstudy.models.toy import ASSETS
    from vptstudy.pretrain import PretrainConfig
    from vptstudy.pretrain import pretrain_toy as run_pretraining

    out_dir = _renamed(out_dir, old_out, "--out", "--out-dir")
    cfg = PretrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weight_decay=wd,
        warmup_steps=warmup_steps if warmup_steps is not None else steps // 20,
        seed=seed,
        eval_images=eval_images,
        threads=threads,
        out_dir=str(out_dir or ASSETS),
    )
    with make_progress() as progress:
        bar = progress.add_task("pretrain toy-vit", total=steps, info="")

        def callback(event: str, info: dict) -> None:
            if event == "step":
                progress.update(bar, advance=1, info=f"loss {info['loss']:.3f} batch acc {100 * info['acc']:.1f}%")
            elif event == "curve":
                console.print(
                    f"step {info['step']}: held-out loss {info['heldout_loss']:.3f}, "
                    f"acc {100 * info['heldout_acc']:.1f}% ({info['seconds']:.0f}s)"
                )

        card = run_pretraining(cfg, callback)
    acc = card["upstream_accuracy"]
    console.print(
        f"upstream top-1 {100 * acc['top1']:.2f}% on {acc['images']} held-out images; "
        f"{card['weights']['bytes'] / 1e6:.2f} MB in {cfg.out_dir} ({card['wall_seconds']:.0f}s)"
    )


# -- vptstudy visualize --------------------------------------------------------------------------------------
visualize = typer.Typer(
    cls=HelpGroup,
    rich_markup_mode=None,
    help="Figures from finished runs: curves, datasize, attribution, tsne, umap, quadrant, ...",
)
app.add_typer(visualize, name="visualize", no_args_is_help=True)
RunsArg = Annotated[list[Path], typer.Argument(help="Run directories, or folders holding them.")]
FtRunArg = Annotated[Path, typer.Argument(metavar="FT_RUN", help="Finished run directory (FT, or any method).")]
VptRunArg = Annotated[Path, typer.Argument(metavar="VPT_RUN", help="Finished run directory (VPT, or any method).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output file (default figures/<figure>).")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="png (default) or pdf (or svg).")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random pick of test images (and of the embedding).")]


def _figure_log(event: str, info: dict) -> None:
    from vptstudy.console import console

    console.print(f"[dim]{event}: {', '.join(f'{k}={v}' for k, v in info.items())}[/]", soft_wrap=True)


def _excluded(corrupt: list[str], runs_found: int | None = None) -> None:
    """List damaged run files and how many runs they kept out (of every figure and mean)."""
    from vptstudy.console import out

    for line in corrupt:
        out.print(line, soft_wrap=True, markup=False, highlight=False)
    if corrupt:
        out.print(f"excluded {len(corrupt)} corrupt file(s) from every mean and figure", soft_wrap=True)


def _wrote(paths: list[Path]) -> None:
    from vptstudy.console import out

    for path in paths:
        out.print(f"wrote {path}", soft_wrap=True)


@visualize.command("curves")
def vis_curves(
    runs: RunsArg,
    out: OutOpt = None,
    fmt: FormatOpt = None,
    scale: Annotated[str, typer.Option(help="linear or log loss axis.")] = "linear",
    columns: Annotated[int, typer.Option(help="Task panels per row.")] = 3,
) -> None:
    """Train (solid) and test (dashed) loss per epoch, one panel per task; prints each run's overfitting verdict."""
    from vptstudy.analysis.overfitting import overfitting_verdict
    from vptstudy.console import out as stdout
    from vptstudy.figures.curves import SCALES, plot_curves
    from vptstudy.figures.select import find_runs, output_target

    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}", "--scale", f"use one of {', '.join(SCALES)}")
    corrupt: list[str] = []
    selected = find_runs(runs, corrupt=corrupt)
    _excluded(corrupt)
    path, formats = output_target(out, fmt, "curves" if scale == "linear" else "curves-log")
    _wrote(plot_curves(selected, path, formats, scale=scale, columns=columns))
    for run in selected:
        stdout.print(f"{run.cfg.task} {run.label}: {overfitting_verdict(run.metrics())} ({run.path})", soft_wrap=True)


@visualize.command("datasize")
def vis_datasize(runs: RunsArg, out: OutOpt = None, fmt: FormatOpt = None) -> None:
    """Test accuracy against training-set size (log axis): FT solid, VPT dotted, mean over seeds with a band."""
    from vptstudy.figures.datasize import plot_datasize
    from vptstudy.figures.select import find_runs, output_target

    path, formats = output_target(out, fmt, "datasize")
    corrupt: list[str] = []
    selected = find_runs(runs, complete=True, corrupt=corrupt)
    _excluded(corrupt)
    _wrote(plot_datasize(selected, path, formats))


def _attribution(
    kinds: tuple[str, ...],
    name: str,
    ft_run: Path,
    vpt_run: Path,
    out: Path | None,
    fmt: str | None,
    select: str,
    images: int,
    target: str,
    seed: int,
    ig_steps: int,
    device: str,
) -> None:
    from vptstudy.figures.attribution import attribution_figure
    from vptstudy.figures.select import output_target

    path, formats = output_target(out, fmt, name)
    _wrote(
        attribution_figure(
            ft_run, vpt_run, path, formats, select, kinds, images, target, seed, ig_steps, device, _figure_log
        )
    )


SelectOpt = Annotated[
    str, typer.Option("--select", help="ft-wrong-vpt-right, vpt-wrong-ft-right, both-right, both-wrong.")
]
ImagesOpt = Annotated[int, typer.Option("--images", help="Number of test images (rows).")]
TargetOpt = Annotated[str, typer.Option(help="Class the maps explain: label (true class) or pred (second run's).")]
StepsOpt = Annotated[int, typer.Option(help="Integrated Gradients steps.")]


@visualize.command("attribution")
def vis_attribution(
    ft_run: FtRunArg,
    vpt_run: VptRunArg,
    out: OutOpt = None,
    fmt: FormatOpt = None,
    select: SelectOpt = "ft-wrong-vpt-right",
    images: ImagesOpt = 4,
    target: TargetOpt = "label",
    seed: SeedOpt = 0,
    ig_steps: StepsOpt = 32,
    device: DeviceOpt = "auto",
) -> None:
    """Rows input | GradCAM FT | GradCAM VPT | IG FT | IG VPT on test images where the runs disagree."""
    _attribution(
        ("gradcam", "ig"), "attribution", ft_run, vpt_run, out, fmt, select, images, target, seed, ig_steps, device
    )


@visualize.command("gradcam")
def vis_gradcam(
    ft_run: FtRunArg,
    vpt_run: VptRunArg,
    out: OutOpt = None,
    fmt: FormatOpt = None,
    select: SelectOpt = "ft-wrong-vpt-right",
    images: ImagesOpt = 4,
    target: TargetOpt = "label",
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Rows input | GradCAM FT | GradCAM VPT (patch tokens of the last block; CLS and prompts left out)."""
    _attribution(("gradcam",), "gradcam", ft_run, vpt_run, out, fmt, select, images, target, seed, 32, device)


@visualize.command("ig")
def vis_ig(
    ft_run: FtRunArg,
    vpt_run: VptRunArg,
    out: OutOpt = None,
    fmt: FormatOpt = None,
    select: SelectOpt = "ft-wrong-vpt-right",
    images: ImagesOpt = 4,
    target: TargetOpt = "label",
    seed: SeedOpt = 0,
    ig_steps: StepsOpt = 32,
    device: DeviceOpt = "auto",
) -> None:
    """Rows input | IG FT | IG VPT (absolute Integrated Gradients)."""
    _attribution(("ig",), "ig", ft_run, vpt_run, out, fmt, select, images, target, seed, ig_steps, device)


def _embedding(
    kind: str, runs: list[Path], out: Path | None, fmt: str | None, max_points: int, seed: int, device: str
) -> None:
    from vptstudy.figures.embeddings import embedding_figure
    from vptstudy.figures.select import find_runs, output_target

    path, formats = output_target(out, fmt, kind)
    corrupt: list[str] = []
    selected = [r.path for r in find_runs(runs, complete=True, corrupt=corrupt)]
    _excluded(corrupt)
    _wrote(embedding_figure(selected, path, kind, formats, max_points, seed, device, _figure_log))


PointsOpt = Annotated[int, typer.Option(help="Test images embedded per run (seeded subsample).")]


@visualize.command("tsne")
def vis_tsne(
    runs: RunsArg,
    out: OutOpt = None,
    fmt: FormatOpt = None,
    max_points: PointsOpt = 2000,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """t-SNE of the final CLS features of test images, one panel per run, coloured by class."""
    _embedding("tsne", runs, out, fmt, max_points, seed, device)


@visualize.command("umap")
def vis_umap(
    runs: RunsArg,
    out: OutOpt = None,
    fmt: FormatOpt = None,
    max_points: PointsOpt = 2000,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Hyperbolic UMAP (Poincare disk) of the final CLS features of test images, one panel per run."""
    _embedding("umap", runs, out, fmt, max_points, seed, device)


@visualize.command("quadrant")
def vis_quadrant(
    runs: Annotated[Path, typer.Argument(help="Folder of final runs, or a JSON {task: {method: accuracy}}.")],
    fid: Annotated[Path, typer.Option("--fid", help="FID per task: the .json or .csv of `vptstudy fid --out`.")],
    out: OutOpt = None,
    fmt: FormatOpt = None,
    threshold: Annotated[float | None, typer.Option(help="FID threshold (default: the median task's).")] = None,
    study: Annotated[str | None, typer.Option(help="Study to use when the folder holds several.")] = None,
    ft_method: Annotated[str, typer.Option(help="The full fine-tuning method.")] = "ft",
    vpt_method: Annotated[str, typer.Option(help="The prompt method compared with it.")] = "vpt-deep",
) -> None:
    """FID per task, bars coloured by the better method, hatched for high task disparity (paper Figure 3)."""
    from vptstudy.analysis.quadrant import quadrant_table, summary_lines
    from vptstudy.console import out as stdout
    from vptstudy.figures.quadrant import plot_quadrant
    from vptstudy.figures.select import output_target

    table = quadrant_table(fid, runs, threshold=threshold, ft_method=ft_method, vpt_method=vpt_method, study=study)
    path, formats = output_target(out, fmt, "quadrant")
    _wrote(plot_quadrant(table, path, formats))
    for line in summary_lines(table):
        stdout.print(line, soft_wrap=True)


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
        data["seeds"] = list(_ints(seeds, "--seeds") or ())
    return parse_study(data, "command line")


TaskListOpt = Annotated[list[str] | None, typer.Option("--task", help="Task (repeat for several).")]
MethodListOpt = Annotated[list[str] | None, typer.Option("--method", help="Method (repeat for several).")]
StudyFileOpt = Annotated[Path | None, typer.Option("--study", help="Study TOML file instead of options.")]
SweepModelOpt = Annotated[str, typer.Option("--model", help="Backbone.")]
SweepPretrainedOpt = Annotated[bool, typer.Option("--pretrained/--no-pretrained", help="Load pretrained weights.")]
SweepEpochsOpt = Annotated[int, typer.Option("--epochs", help="Epochs per phase.")]
SweepBatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Batch size (default: the recipe's).")]
HalvingOpt = Annotated[bool, typer.Option("--halving", help="Search by successive halving (rungs 10,30; eta 3).")]
SweepImgSizeOpt = Annotated[int | None, typer.Option("--img-size", help="Input size.")]
SweepDataRootOpt = Annotated[Path | None, typer.Option("--data-root", help="Data folder.")]
SweepDownloadOpt = Annotated[bool, typer.Option("--download", help="Let torchvision download full datasets.")]
SweepCacheDirOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Folder of decoded-image caches.")]
SweepOutDirOpt = Annotated[Path, typer.Option("--out-dir", help="Root folder of run directories.")]


def _sweep_run(
    model: str,
    pretrained: bool,
    epochs: int,
    batch_size: int | None,
    img_size: int | None,
    data_root: Path | None,
    download: bool,
    cache_dir: Path | None,
    out_dir: Path,
    logger: str | None = None,
    normalize: str = "imagenet",
    halving: bool = False,
) -> dict:
    """The ``[run]`` table a sweep command's options stand for."""
    return {
        "search": "halving" if halving else None,
        "model": model,
        "pretrained": pretrained,
        "epochs": epochs,
        "batch_size": batch_size,
        "img_size": img_size,
        "data_root": str(data_root) if data_root else None,
        "out_dir": str(out_dir),
        "download": download,
        "cache_dir": str(cache_dir) if cache_dir else None,
        "logger": logger,
        "normalize": normalize,
    }


@app.command("sweep-datasize")
def sweep_datasize(
    study_file: StudyFileOpt = None,
    task: TaskListOpt = None,
    method: MethodListOpt = None,
    sizes: Annotated[str, typer.Option(help="Train sizes (val = size/4).")] = "400,800,1000,1200,5000,10000,20000",
    split_seeds: Annotated[str, typer.Option(help="Seeds of the size splits.")] = "0",
    seeds: Annotated[str | None, typer.Option(help="Final seeds (default 42,44,82,100,800).")] = None,
    search: Annotated[bool, typer.Option("--search/--fixed", help="Fresh lr x wd search per size, or fixed.")] = True,
    model: SweepModelOpt = PAPER_MODEL,
    pretrained: SweepPretrainedOpt = True,
    epochs: SweepEpochsOpt = 100,
    batch_size: SweepBatchOpt = None,
    img_size: SweepImgSizeOpt = None,
    data_root: SweepDataRootOpt = None,
    download: SweepDownloadOpt = False,
    cache_dir: SweepCacheDirOpt = None,
    out_dir: SweepOutDirOpt = Path("runs"),
    logger: LoggerOpt = None,
    normalize: NormalizeOpt = "imagenet",
    halving: HalvingOpt = False,
    name: Annotated[str, typer.Option("--name", help="Study name.")] = "datasize",
    executor: ExecutorOpt = "local",
    gpus: GpusOpt = None,
    workers_per_gpu: WorkersPerGpuOpt = 1,
    workers: WorkersOpt = 1,
    partition: PartitionOpt = None,
    time: TimeOpt = 240,
    runs_per_job: RunsPerJobOpt = 1,
    array_parallelism: ParallelOpt = 64,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Data-size sweep (paper section 4.4): each train size at train:val = 4:1, per method and seed."""
    _check_json(dry_run, as_json)
    run = _sweep_run(
        model,
        pretrained,
        epochs,
        batch_size,
        img_size,
        data_root,
        download,
        cache_dir,
        out_dir,
        logger,
        normalize,
        halving,
    )
    study = _sweep_study(
        "datasize",
        study_file,
        name,
        task,
        method,
        seeds,
        search,
        run,
        {"sizes": list(_ints(sizes, "--sizes") or ()), "split_seeds": list(_ints(split_seeds, "--split-seeds") or ())},
    )
    _run_study(
        study,
        _executor(executor, gpus, workers_per_gpu, workers, partition, time, runs_per_job, array_parallelism),
        dry_run,
        as_json,
    )


@app.command("sweep-oneshot")
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
    model: SweepModelOpt = PAPER_MODEL,
    pretrained: SweepPretrainedOpt = True,
    epochs: SweepEpochsOpt = 100,
    batch_size: SweepBatchOpt = None,
    img_size: SweepImgSizeOpt = None,
    data_root: SweepDataRootOpt = None,
    download: SweepDownloadOpt = False,
    cache_dir: SweepCacheDirOpt = None,
    out_dir: SweepOutDirOpt = Path("runs"),
    logger: LoggerOpt = None,
    normalize: NormalizeOpt = "imagenet",
    halving: HalvingOpt = False,
    name: Annotated[str, typer.Option("--name", help="Study name.")] = "oneshot",
    executor: ExecutorOpt = "local",
    gpus: GpusOpt = None,
    workers_per_gpu: WorkersPerGpuOpt = 1,
    workers: WorkersOpt = 1,
    partition: PartitionOpt = None,
    time: TimeOpt = 240,
    runs_per_job: RunsPerJobOpt = 1,
    array_parallelism: ParallelOpt = 64,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """One-shot sweep (paper Tables 3-4): k images per class for train and val, several seeded draws."""
    _check_json(dry_run, as_json)
    run = _sweep_run(
        model,
        pretrained,
        epochs,
        batch_size,
        img_size,
        data_root,
        download,
        cache_dir,
        out_dir,
        logger,
        normalize,
        halving,
    )
    section = {"shots": shots, "protocol": protocol, **({"draws": draws} if draws is not None else {})}
    study = _sweep_study("oneshot", study_file, name, task, method, seeds, search, run, section)
    _run_study(
        study,
        _executor(executor, gpus, workers_per_gpu, workers, partition, time, runs_per_job, array_parallelism),
        dry_run,
        as_json,
    )


@app.command("run")
def run_cmd(
    study_file: Annotated[Path, typer.Argument(help="Study TOML file, e.g. studies/vtab1k.toml.")],
    out_dir: Annotated[Path | None, typer.Option(help="Root folder of run directories (default: the study's).")] = None,
    logger: LoggerOpt = None,
    executor: ExecutorOpt = "local",
    gpus: GpusOpt = None,
    workers_per_gpu: WorkersPerGpuOpt = 1,
    workers: WorkersOpt = 1,
    partition: PartitionOpt = None,
    time: TimeOpt = 240,
    runs_per_job: RunsPerJobOpt = 1,
    array_parallelism: ParallelOpt = 64,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a study file (search, datasize or oneshot); complete runs are skipped, partial ones resume."""
    _check_json(dry_run, as_json)
    import dataclasses

    from vptstudy.study import load_study

    study = load_study(study_file)
    if out_dir is not None:
        study = dataclasses.replace(study, run={**study.run, "out_dir": str(out_dir)})
    if logger is not None:
        study = dataclasses.replace(study, run={**study.run, "logger": logger})
    _run_study(
        study,
        _executor(executor, gpus, workers_per_gpu, workers, partition, time, runs_per_job, array_parallelism),
        dry_run,
        as_json,
    )


def _grid_table(title: str, header: list[str], rows: list[list[str]]):
    """A rich table of strings with no cell broken mid-value."""
    from rich.table import Table as RichTable

    table = RichTable(title=title)
    for col in header:
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


@app.command()
def report(
    runs_dir: Annotated[Path, typer.Argument(help="Folder of run directories (a study or the whole out dir).")],
    out_dir: Annotated[Path | None, typer.Option(help="Folder for report.md/.csv (default: RUNS_DIR).")] = None,
    paper: Annotated[
        bool, typer.Option("--paper", help="Also compare with the paper's Tables 1-6 (writes paper.md, paper.csv).")
    ] = False,
    old_out: Annotated[Path | None, _old_name("--out")] = None,
) -> None:
    """Paper-style tables: mean ± std test accuracy, group means, wins against FT; markdown + CSV."""

    from vptstudy.analysis.tables import collect, stopped_note, table_rows, write_report
    from vptstudy.console import out as stdout

    if not runs_dir.is_dir():
        raise UserError(f"runs folder {str(runs_dir)!r} not found", "RUNS_DIR", "pass the --out-dir of your runs")
    rep = collect(runs_dir)
    if not rep.tables and not rep.failed and not rep.incomplete and not rep.corrupt:
        raise UserError(f"no runs under {str(runs_dir)!r}", "RUNS_DIR", "pass the folder your sweeps wrote to")
    for table in rep.tables:
        header, rows = table_rows(table)
        title = f"{table.study}: {table.regime} (test acc %, mean ± std; wins vs FT)"
        rich_table = _grid_table(title, header, rows)
        natural = stdout.measure(rich_table, options=stdout.options.update_width(10_000)).maximum
        if natural > stdout.width:  # too wide: one row per task, one column per method
            columns = list(zip(header, *rows, strict=True))
            rich_table = _grid_table(title, ["", *columns[0][1:]], [list(c) for c in columns[1:]])
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
    out_dir = _renamed(out_dir, old_out, "--out", "--out-dir") or runs_dir
    md, csv_path = write_report(rep, out_dir)
    stdout.print(f"wrote {md} and {csv_path}")
    if paper:
        _report_paper(rep, out_dir)


def _report_paper(rep, out_dir: Path) -> None:
    """``report --paper``: our means next to the paper's, per task and method, and paper.csv."""
    from vptstudy.analysis import paper
    from vptstudy.console import out as stdout
    from vptstudy.runs import atomic_write_bytes

    items = paper.comparisons(rep)
    if not items:
        regimes = ", ".join(paper.load_paper().regimes())
        stdout.print(f"--paper: no runs in a regime the paper reports ({regimes})")
        return
    for c in items:
        rich_table = _grid_table(paper.title(c), *paper.wide_rows(c))
        if stdout.measure(rich_table, options=stdout.options.update_width(10_000)).maximum > stdout.width:
            rich_table = _grid_table(paper.title(c), *paper.long_rows(c))
        stdout.print(rich_table)
        stdout.print(paper.summary(c))
    atomic_write_bytes(out_dir / "paper.md", paper.to_markdown(items).encode())
    atomic_write_bytes(out_dir / "paper.csv", paper.to_csv(items).encode())
    stdout.print(f"wrote {out_dir / 'paper.md'} and {out_dir / 'paper.csv'}")


@app.command()
def fid(
    reference: Annotated[
        str, typer.Option(help="Pretraining data: image folder (recursive), list file, .npz (mu/sigma), toy-upstream.")
    ],
    task: Annotated[list[str] | None, typer.Option("--task", help="Task to measure (repeatable).")] = None,
    split: Annotated[
        str, typer.Option(help="trainval (the tuning data, train800val200: default), train, val or test.")
    ] = "trainval",
    features: Annotated[
        str, typer.Option(help="inception (pytorch-fid pool3) or backbone (pre-logits).")
    ] = "inception",
    model: Annotated[str, typer.Option(help="Backbone for --features backbone (timm ViT or toy-vit).")] = PAPER_MODEL,
    weights: Annotated[Path | None, typer.Option(help="Local backbone weights for --features backbone.")] = None,
    img_size: Annotated[int | None, typer.Option(help="Backbone input size (default: the backbone's).")] = None,
    inception_weights: Annotated[
        Path | None, typer.Option(help="pt_inception-2015-12-05-6726825d.pth (default: the torch hub cache).")
    ] = None,
    max_images: Annotated[int | None, typer.Option(help="Seeded sample cap per image set.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --max-images sample.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 50,
    data_root: Annotated[Path | None, typer.Option(help="Data folder for the tasks.")] = None,
    save_stats: Annotated[Path | None, typer.Option(help="Write the reference statistics to this .npz.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Let --save-stats replace a file.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Cache root (statistics go to <dir>/fid).")] = None,
    cache: Annotated[bool, typer.Option(help="Read and write cached statistics.")] = True,
    refresh: Annotated[bool, typer.Option("--refresh", help="Recompute cached statistics.")] = False,
    sqrtm: Annotated[str, typer.Option(help="eigh (fast, stable) or sqrtm (pytorch-fid's scipy sqrtm).")] = "eigh",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    out: Annotated[list[Path] | None, typer.Option("--out", help="Write rows to .csv / .json (repeatable).")] = None,
) -> None:
    """Fréchet distance between pretraining data and each task's data (paper section 4.3), cached per set."""
    from vptstudy.console import console, make_progress
    from vptstudy.console import out as stdout
    from vptstudy.fid.compute import FidRequest, compute_fid
    from vptstudy.fid.report import check_out_paths, fid_table, write_outputs

    outs = check_out_paths(list(out or []))
    req = FidRequest(
        reference=reference,
        tasks=tuple(task or ()),
        split=split,
        features=features,
        model=model,
        weights=str(weights) if weights else None,
        img_size=img_size,
        inception_weights=str(inception_weights) if inception_weights else None,
        max_images=max_images,
        seed=seed,
        batch_size=batch_size,
        data_root=str(data_root) if data_root else None,
        cache_dir=str(cache_dir) if cache_dir else None,
        use_cache=cache,
        refresh=refresh,
        save_stats=str(save_stats) if save_stats else None,
        overwrite=overwrite,
        device=device,
        method=sqrtm,
    )
    progress, bars = make_progress(), {}

    def update(label: str, done: int, total: int) -> None:
        if not bars:
            progress.start()  # only once images are read: errors and cache hits print no empty bar
        if label not in bars:
            bars[label] = progress.add_task(label, total=total, info="")
        progress.update(bars[label], completed=done, total=total)

    try:
        result = compute_fid(req, update)
    finally:
        if bars:
            progress.stop()
    if result.rows:
        stdout.print(fid_table(result))
    if result.saved_stats:
        stdout.print(f"wrote reference statistics {result.saved_stats}", soft_wrap=True)
    for path in write_outputs(result, outs):
        stdout.print(f"wrote {path}", soft_wrap=True)
    console.print(f"[dim]{result.seconds:.1f}s[/]")


def _bench_table(rows: list[dict]):
    """The bench figures as a rich table (one row per method)."""
    from rich import box
    from rich.table import Table as RichTable

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    def rate(value: float) -> str:
        return format(value, ",.0f" if value >= 100 else ".1f")

    first = rows[0]
    table = RichTable(
        title=f"bench: {first['model']} at {first['input_size']}px, batch {first['batch_size']} "
        f"(eval {first['eval_batch_size']}), "
        f"{first['device']}, {first['threads']} thread(s), {first['clock']} clock",
        caption="images/s; overhead: real epoch / bare compute of the same work; vs FT: bare step time ratio; "
        "warm-up: the untimed first steps (with --compile, mostly compilation)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("method", no_wrap=True)
    for col in ("bare", "train", "eval", "epoch", "overhead", "vs FT", "warm-up", "peak MB", "MFU %"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["method"],
            rate(r["bare_images_per_s"]),
            rate(r["train_images_per_s"]),
            rate(r["eval_images_per_s"]),
            f"{r['epoch_s']:.2f}s",
            fmt(r["overhead_ratio"], ".3f"),
            fmt(r.get("vpt_to_ft_step_ratio"), ".3f"),
            f"{r['warmup_s']:.1f}s",
            fmt(r["peak_memory_bytes"] / 2**20, ",.0f"),
            fmt(None if r["mfu"] is None else 100 * r["mfu"], ".1f"),
        )
    return table


@app.command()
def bench(
    model: Annotated[str, typer.Option(help="timm ViT name or toy-vit.")] = "toy-vit",
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Method to measure (repeatable; default ft and vpt-deep).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    img_size: Annotated[int | None, typer.Option(help="Input size (default: the backbone's).")] = None,
    prompts: Annotated[int, typer.Option("--prompts", help="Prompt length p (prompt methods).")] = 10,
    pretrained: Annotated[bool, typer.Option(help="Load pretrained weights (speed does not need them).")] = False,
    weights: Annotated[Path | None, typer.Option(help="Local backbone weights.")] = None,
    task: Annotated[str | None, typer.Option(help="A registered task instead of the synthetic one.")] = None,
    train_n: Annotated[int, typer.Option(help="Synthetic task: training images (VTAB-1k: 800).")] = 800,
    val_n: Annotated[int, typer.Option(help="Synthetic task: validation images.")] = 200,
    test_n: Annotated[int, typer.Option(help="Test images evaluated per epoch (the subsample).")] = 1000,
    fgvc: Annotated[bool, typer.Option("--fgvc", help="Synthetic task FGVC-style: random crop + flip.")] = False,
    epochs: Annotated[int, typer.Option(help="Real epochs per method; the first is warm-up.")] = 3,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds of bare timings (medians kept).")] = 5,
    steps: Annotated[int, typer.Option(help="Bare steps per round and batch size.")] = 2,
    warmup_steps: Annotated[int, typer.Option(help="Untimed bare steps first.")] = 2,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint epochs, as in train (0: none).")] = 1,
    checkpoint_minutes: Annotated[
        float, typer.Option(help="Minutes between checkpoints, as in train (0: every epoch, to time them).")
    ] = 5.0,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's).")] = None,
    clock: Annotated[str, typer.Option(help="wall, or cpu (process CPU time: steadier on a shared CPU).")] = "wall",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA), fp32 or bf16.")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the training model.")] = False,
    json_path: Annotated[Path | None, typer.Option("--out", help="Also write the figures to this JSON file.")] = None,
    old_json: Annotated[Path | None, _old_name("--json")] = None,
) -> None:
    """Training speed: bare forward+backward+step vs a real epoch with evaluation; overhead, memory, MFU."""
    from vptstudy.bench import BenchConfig
    from vptstudy.bench import bench as run_bench
    from vptstudy.console import console
    from vptstudy.console import out as stdout
    from vptstudy.runs import atomic_write_json

    cfg = BenchConfig(
        model=model,
        methods=tuple(method or ("ft", "vpt-deep")),
        batch_size=batch_size,
        img_size=img_size,
        num_prompts=prompts,
        pretrained=pretrained,
        weights=str(weights) if weights else None,
        task=task,
        train_n=train_n,
        val_n=val_n,
        test_n=test_n,
        fgvc=fgvc,
        epochs=epochs,
        rounds=rounds,
        steps=steps,
        warmup_steps=warmup_steps,
        checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes,
        threads=threads,
        clock=clock,
        device=device,
        precision=precision,
        compile=compile,
    )

    def log(event: str, info: dict) -> None:
        if event == "bare":
            console.print(f"[dim]bare steps: {', '.join(info['methods'])} (interleaved)[/]")
        elif event == "real":
            console.print(f"[dim]real epochs: {info['method']} ({info['epochs']})[/]")

    json_path = _renamed(json_path, old_json, "--json", "--out")
    rows = run_bench(cfg, log)
    stdout.print(_bench_table(rows))
    if json_path is not None:
        atomic_write_json(json_path, rows)
        stdout.print(f"wrote {json_path}", soft_wrap=True)


@app.command()
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


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(help="Output folder: runs, report.md and figures/.")] = Path("demo-out"),
    old_out: Annotated[Path | None, _old_name("--out")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A smoke test: two tasks, one seed, two epochs.")] = False,
    publish: Annotated[Path | None, typer.Option(help="Also copy the figures (PNG) into this folder.")] = None,
) -> None:
    """The embedded mini-study end to end, offline on CPU: FT vs VPT-deep on toy tasks, distances, figures."""
    import shutil

    from vptstudy.console import SweepProgress, console, make_progress
    from vptstudy.demo import run_demo

    with make_progress() as progress:
        outputs = run_demo(
            _renamed(out_dir, old_out, "--out", "--out-dir"), quick=quick, callback=SweepProgress(progress)
        )
    if publish is not None:
        publish.mkdir(parents=True, exist_ok=True)
        for figure in outputs.figures:
            if figure.suffix == ".png":
                shutil.copyfile(figure, publish / figure.name)
    console.print(f"[bold green]demo finished[/] in {outputs.seconds / 60:.1f} min")
    console.print(f"report: {outputs.report}")
    console.print(f"figures: {', '.join(str(f) for f in outputs.figures)}")


# errors of a path that cannot be written: read-only mount or folder, full disk or quota, a path under a file
UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST}


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2; SIGINT/SIGTERM one line and
    128 + the signal number, with every lock released."""
    from vptstudy import signals

    previous = signals.install()
    try:
        _main()
    finally:
        signals.restore(previous)


def _main() -> None:
    from vptstudy import locks, signals

    try:
        code = app(standalone_mode=False)
    except signals.Interrupted as exc:
        locks.release_all()
        print(exc.line(), file=sys.stderr)
        sys.exit(exc.exit_code)
    except UserError as exc:
        if STATE["debug"]:
            raise
        print(f"vptstudy: error: {exc.line()}", file=sys.stderr)
        sys.exit(2)
    except RunFailed as exc:
        if STATE["debug"]:
            raise
        print(f"vptstudy: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # raised outside Typer's own handler (which returns 130, below)
        code = 130
    except OSError as exc:
        if STATE["debug"] or exc.errno not in UNWRITABLE:
            raise
        verb = "cannot write" if exc.errno in {errno.EROFS, errno.ENOSPC, errno.EDQUOT} else "cannot access"
        where = f" {str(exc.filename)!r}" if exc.filename else ""
        cause = f"{exc.strerror or type(exc).__name__} [{errno.errorcode.get(exc.errno or 0, '?')}]"
        print(
            f"vptstudy: error: {verb}{where}: {cause}: use a writable --out-dir with free space "
            "(not a path under a file or on a read-only mount)",
            file=sys.stderr,
        )
        sys.exit(2)
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:  # usage errors (unknown option, missing argument) carry their own message and exit code
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # typer vendors click (typer._click), so match the interface, not click's class
            sys.exit(exc.exit_code)
        raise
    if code == 130:  # Typer turns a KeyboardInterrupt into this return value under standalone_mode=False
        locks.release_all()
        print(f"vptstudy: interrupted; {signals.RESUME_HINT}", file=sys.stderr)
    if isinstance(code, int) and code:
        sys.exit(code)
