"""The Python API for notebooks: plan and fit a run, load it, read a runs folder into a table, draw the figures.

``import vptstudy`` exposes exactly these (lazily, so the command line starts fast); everything else is internal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vptstudy.config import RunConfig

if TYPE_CHECKING:
    from vptstudy.models.tunable import TunableBackbone
    from vptstudy.plan import RunPlan

PathLike = str | Path
Callback = Callable[[str, dict[str, Any]], None]


def _config(cfg: RunConfig | None, fields: dict[str, Any]) -> RunConfig:
    if cfg is None:
        return RunConfig(**fields)
    return cfg.replace(**fields) if fields else cfg


def plan_run(cfg: RunConfig | None = None, /, **fields: Any) -> RunPlan:
    """Every resolved value of one run (phases, lr/wd, prompts, input size, run folder); nothing is trained.

    Pass a :class:`RunConfig`, or its fields: ``plan_run(task="toy/digits", method="vpt-deep", model="toy-vit")``.
    """
    from vptstudy.plan import plan

    return plan(_config(cfg, fields))


def fit_run(cfg: RunConfig | None = None, /, callback: Callback | None = None, **fields: Any) -> dict[str, Any]:
    """Train one run into its run folder and return ``result.json`` as a dict (a finished run is not retrained).

    ``callback(event, info)`` receives the trainer's events (``epoch`` rows as in ``metrics.jsonl``, ``done``).
    """
    from vptstudy.train import fit

    return fit(_config(cfg, fields), callback or (lambda event, info: None))


def load_run(run_dir: PathLike, device: str = "cpu") -> TunableBackbone:
    """A finished run's tuned model (backbone + its trained tensors) in eval mode."""
    from vptstudy.load import load_run as _load_run

    return _load_run(run_dir, device)


@dataclass(frozen=True)
class RunRecord:
    """One run of a runs folder: what it was and how it ended (accuracies are fractions in [0, 1])."""

    study: str
    task: str
    method: str
    model: str
    split: str
    seed: int
    train_size: int | None
    shots: int | None
    split_seed: int
    base_lr: float | None
    weight_decay: float | None
    status: str  # ok, failed, or incomplete (no result.json yet)
    epochs_done: int | None
    train_acc: float | None
    val_acc: float | None
    test_acc: float | None
    test_loss: float | None
    trainable_pct: float | None
    wall_seconds: float | None
    run_dir: str


def _record(run: Path) -> RunRecord:
    from vptstudy.rundir import RunDir

    rd = RunDir(run)
    cfg, result = rd.cfg, rd.result
    final = (result.final if result else None) or {}

    def number(value: Any) -> float | None:
        return value if isinstance(value, int | float) else None  # non-finite values are stored as text

    return RunRecord(
        study=cfg.study,
        task=cfg.task,
        method=cfg.method,
        model=cfg.model,
        split=cfg.split,
        seed=cfg.seed,
        train_size=cfg.train_size,
        shots=cfg.shots,
        split_seed=cfg.split_seed,
        base_lr=number(result.base_lr if result else cfg.base_lr),
        weight_decay=number(result.weight_decay if result else cfg.weight_decay),
        status=(result.status or "incomplete") if result else "incomplete",
        epochs_done=result.epochs_done if result else None,
        train_acc=number(final.get("train_acc")),
        val_acc=number(final.get("val_acc")),
        test_acc=number(final.get("test_acc")),
        test_loss=number(final.get("test_loss")),
        trainable_pct=number(result.trainable_pct if result else None),
        wall_seconds=number(result.wall_seconds if result else None),
        run_dir=str(run),
    )


def read_runs(root: PathLike, as_frame: bool | None = None) -> Any:
    """Every run under ``root``, one row each: a pandas DataFrame when pandas is installed (or ``as_frame=True``),
    else a list of :class:`RunRecord`. Columns are RunRecord's fields."""
    from vptstudy import runs
    from vptstudy.errors import UserError

    folder = Path(root)
    if not folder.is_dir():
        raise UserError(f"runs folder {str(folder)!r} not found", "root", "pass the --out-dir of your runs")
    records = [_record(run) for run in runs.iter_runs(folder)]
    if as_frame is False:
        return records
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise UserError("pandas is not installed", "as_frame=True", "pip install pandas") from None
        return records
    columns = [f.name for f in dataclasses.fields(RunRecord)]
    return pd.DataFrame([dataclasses.asdict(r) for r in records], columns=columns)


def _target(out: PathLike | None, fmt: str | None, name: str) -> tuple[Path, tuple[str, ...]]:
    from vptstudy.figures.select import output_target

    return output_target(out, fmt, name)


def _runs(paths: PathLike | Iterable[PathLike], complete: bool = False):
    from vptstudy.figures.select import find_runs

    given = [paths] if isinstance(paths, str | Path) else list(paths)
    return find_runs(given, complete=complete)


def plot_curves(
    runs: PathLike | Sequence[PathLike], out: PathLike | None = None, fmt: str | None = None, scale: str = "linear"
) -> list[Path]:
    """Train (solid) and test (dashed) loss per epoch, one panel per task (``vptstudy visualize curves``)."""
    from vptstudy.figures.curves import plot_curves as draw

    path, formats = _target(out, fmt, "curves")
    return draw(_runs(runs), path, formats, scale=scale)


def plot_datasize(
    runs: PathLike | Sequence[PathLike], out: PathLike | None = None, fmt: str | None = None
) -> list[Path]:
    """Test accuracy against training-set size, per method (``vptstudy visualize datasize``)."""
    from vptstudy.figures.datasize import plot_datasize as draw

    path, formats = _target(out, fmt, "datasize")
    return draw(_runs(runs, complete=True), path, formats)


def plot_attribution(
    ft_run: PathLike,
    vpt_run: PathLike,
    out: PathLike | None = None,
    fmt: str | None = None,
    select: str = "ft-wrong-vpt-right",
    images: int = 4,
    device: str = "cpu",
) -> list[Path]:
    """Input | GradCAM | Integrated Gradients of two runs on test images where they disagree."""
    from vptstudy.figures.attribution import attribution_figure

    path, formats = _target(out, fmt, "attribution")
    return attribution_figure(ft_run, vpt_run, path, formats, select, num_images=images, device=device)


def _embedding(kind: str, runs, out, fmt, max_points: int, device: str) -> list[Path]:
    from vptstudy.figures.embeddings import embedding_figure

    path, formats = _target(out, fmt, kind)
    paths = [r.path for r in _runs(runs, complete=True)]
    return embedding_figure(paths, path, kind, formats, max_points, device=device)


def plot_tsne(
    runs: PathLike | Sequence[PathLike],
    out: PathLike | None = None,
    fmt: str | None = None,
    max_points: int = 2000,
    device: str = "cpu",
) -> list[Path]:
    """t-SNE of the final CLS features of test images, one panel per run."""
    return _embedding("tsne", runs, out, fmt, max_points, device)


def plot_umap(
    runs: PathLike | Sequence[PathLike],
    out: PathLike | None = None,
    fmt: str | None = None,
    max_points: int = 2000,
    device: str = "cpu",
) -> list[Path]:
    """Hyperbolic UMAP (Poincaré disk) of the final CLS features of test images, one panel per run."""
    return _embedding("umap", runs, out, fmt, max_points, device)


def plot_quadrant(
    runs: PathLike | dict[str, dict[str, float]],
    fid: PathLike | dict[str, float],
    out: PathLike | None = None,
    fmt: str | None = None,
) -> list[Path]:
    """FID per task, bars coloured by the better of FT and VPT-deep (the paper's Figure 3)."""
    from vptstudy.analysis.quadrant import quadrant_table
    from vptstudy.figures.quadrant import plot_quadrant as draw

    path, formats = _target(out, fmt, "quadrant")
    return draw(quadrant_table(fid, runs), path, formats)
