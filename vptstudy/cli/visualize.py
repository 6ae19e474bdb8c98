"""``vptstudy visualize ...``: figures from finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vptstudy.cli_help import HelpGroup
from vptstudy.errors import UserError

app = typer.Typer(
    cls=HelpGroup,
    rich_markup_mode=None,
    help="Figures from finished runs: curves, datasize, attribution, tsne, umap, quadrant, ...",
)
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


@app.command("curves")
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


@app.command("datasize")
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


@app.command("attribution")
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


@app.command("gradcam")
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


@app.command("ig")
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


@app.command("tsne")
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


@app.command("umap")
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


@app.command("quadrant")
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
