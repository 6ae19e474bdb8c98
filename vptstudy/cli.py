"""The vptstudy command line. Each command parses its options and calls one library function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vptstudy.config import PAPER_MODEL, RunConfig
from vptstudy.errors import RunFailed, UserError

app = typer.Typer(
    name="vptstudy",
    help="Visual prompt tuning or full fine-tuning? Run the ICLR 2024 study on timm ViTs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
STATE = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    STATE["debug"] = debug


@app.command()
def tasks() -> None:
    """List the registered tasks: group, classes, task disparity, sources and how to get the data."""
    from rich.table import Table

    from vptstudy.console import out
    from vptstudy.data import TASKS

    table = Table(title="Tasks")
    for col in ("task", "group", "classes", "disparity", "sources", "preprocess", "how to get it"):
        table.add_column(col, overflow="fold")
    for spec in TASKS.values():
        table.add_row(
            spec.name,
            spec.group,
            str(spec.num_classes or "from data"),
            spec.disparity,
            ", ".join(spec.sources),
            spec.preprocess,
            spec.get_it,
        )
    out.print(table)


@app.command()
def train(
    task: Annotated[str, typer.Option(help="Task name (see `vptstudy tasks`), e.g. toy/digits.")],
    method: Annotated[str, typer.Option(help="ft, linear, vpt-shallow, vpt-deep, mixed or ft-then-pt.")],
    model: Annotated[str, typer.Option(help="timm ViT name (with pretrained tag) or toy-vit.")] = PAPER_MODEL,
    pretrained: Annotated[bool, typer.Option(help="Load the backbone's pretrained weights.")] = True,
    weights: Annotated[Path | None, typer.Option(help="Local .safetensors/.pth/.npz backbone weights.")] = None,
    img_size: Annotated[int | None, typer.Option(help="Input size (default: the backbone's).")] = None,
    prompts: Annotated[int, typer.Option("--prompts", help="Prompt length p (prompt methods).")] = 10,
    prompt_dropout: Annotated[float | None, typer.Option(help="Default 0.1 deep, 0.0 shallow.")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs per phase (FT-then-PT runs two phases).")] = 100,
    warmup_epochs: Annotated[int | None, typer.Option(help="Linear warm-up epochs (default 10%).")] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size; lr = base lr * batch / 256.")] = 128,
    lr: Annotated[float | None, typer.Option("--lr", help="Base lr (default: the method's).")] = None,
    wd: Annotated[float | None, typer.Option("--wd", help="Weight decay (default: the method's).")] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 42,
    split: Annotated[str, typer.Option(help="tune (train800 -> val200) or final (train800val200 -> test).")] = "tune",
    train_size: Annotated[int | None, typer.Option(help="Train size N (val N/4), data-size regime.")] = None,
    shots: Annotated[int | None, typer.Option(help="k images per class for train and val.")] = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the data split.")] = 0,
    test_subsample: Annotated[int, typer.Option(help="Test images per epoch for curves (0: all).")] = 1000,
    data_root: Annotated[Path | None, typer.Option(help="Data folder for the task.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA), fp32 or bf16.")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    out_dir: Annotated[Path, typer.Option(help="Root folder of run directories.")] = Path("runs"),
    study: Annotated[str, typer.Option(help="Study name (first run-directory level).")] = "adhoc",
) -> None:
    """Train one run (FT, linear, VPT-shallow, VPT-deep, Mixed or FT-then-PT) into a run directory."""
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
        split_seed=split_seed,
        test_subsample=test_subsample or None,
        data_root=str(data_root) if data_root else None,
        device=device,
        precision=precision,
        compile=compile,
        out_dir=str(out_dir),
        study=study,
    )
    with make_progress() as progress:
        result = fit(cfg, TrainProgress(progress, f"{task} {method}"))
    print_results([result], title="Run summary")


# -- vptstudy visualize --------------------------------------------------------------------------------------
visualize = typer.Typer(help="Figures from finished runs: curves, datasize, gradcam, ig, attribution, tsne, umap.")
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
    selected = find_runs(runs)
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
    _wrote(plot_datasize(find_runs(runs, complete=True), path, formats))


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
    selected = [r.path for r in find_runs(runs, complete=True)]
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


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
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
    except KeyboardInterrupt:
        print("vptstudy: interrupted", file=sys.stderr)
        sys.exit(130)
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
