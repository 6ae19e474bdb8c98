"""Loss curves (paper Figures 5, 6, 9-13): train loss solid, test loss dashed, one colour per method, one panel
per task. Two-phase runs (FT-then-PT) are drawn over all their epochs with the phase boundary marked; a run the
overfitting detector flags gets a triangle at its test-loss minimum. The legend has one entry per method: its run
count and how many of them overfit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from vptstudy.analysis.overfitting import overfitting_verdict
from vptstudy.figures.select import Run, method_order
from vptstudy.figures.style import method_color, new_figure, save_figure

SCALES = ("linear", "log")
LEGEND_INSIDE = 8  # legend entries that fit inside a panel without hiding the curves


def _values(rows: list[dict[str, Any]], key: str) -> list[float]:
    out = []
    for r in rows:
        try:
            out.append(float(r.get(key)))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def phase_boundaries(rows: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    """``(x, previous phase, next phase)`` for every phase change; x lies halfway between the two epochs."""
    marks = []
    for prev, cur in itertools.pairwise(rows):
        if prev.get("phase") != cur.get("phase"):
            marks.append(((prev["epoch"] + cur["epoch"]) / 2, str(prev.get("phase")), str(cur.get("phase"))))
    return marks


def _method_label(method: str, runs: int, overfit: int) -> str:
    """A method's legend entry: its name, how many runs it draws, and how many of them overfit."""
    if runs <= 1:
        return method + (" (overfits)" if overfit else "")
    return f"{method} ({runs} runs" + (f", {overfit} overfit)" if overfit else ")")


def _draw_task(ax: Axes, task: str, task_runs: list[Run], scale: str) -> None:
    methods = method_order(r.cfg.method for r in task_runs)
    per_method = {m: [r for r in task_runs if r.cfg.method == m] for m in methods}
    drawn_marks: set[float] = set()
    for index, method in enumerate(methods):
        color = method_color(method, index)
        # earlier methods on top: FT-then-PT's first phase repeats FT's run (reused), and would hide FT's line
        z = 2 + len(methods) - index
        curves = [(rows, overfitting_verdict(rows)) for rows in (run.metrics() for run in per_method[method]) if rows]
        # one legend entry per method: a method's runs share its colour, so per-run entries could not be told apart
        label = _method_label(method, len(curves), sum(v.overfits for _, v in curves))
        for k, (rows, verdict) in enumerate(curves):
            epochs = [r["epoch"] for r in rows]
            alpha = 1.0 if k == 0 else 0.6
            ax.plot(
                epochs,
                _values(rows, "train_loss"),
                "-",
                color=color,
                alpha=alpha,
                lw=1.4,
                label=label if k == 0 else "_",
                zorder=z,
            )
            ax.plot(epochs, _values(rows, "test_loss"), "--", color=color, alpha=alpha, lw=1.4, zorder=z)
            if verdict.overfits and verdict.min_epoch is not None:
                ax.plot([verdict.min_epoch], [verdict.min_test_loss], "v", color=color, ms=7, mec="black", mew=0.5)
            for x, before, after in phase_boundaries(rows):
                if x not in drawn_marks:
                    drawn_marks.add(x)
                    ax.axvline(x, color="0.4", ls=":", lw=1.0)
                    ax.annotate(
                        f"{before} | {after}",
                        (x, 1.0),
                        xycoords=("data", "axes fraction"),
                        ha="center",
                        va="bottom",
                        fontsize=8,
                        color="0.3",
                    )
    ax.set_yscale(scale)
    ax.set_title(task, pad=14 if drawn_marks else 6)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss" + (" (log)" if scale == "log" else ""))
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.2", ls="-"), Line2D([], [], color="0.2", ls="--")]
    labels += ["train", "test"]
    if len(labels) <= LEGEND_INSIDE:
        ax.legend(handles, labels, loc="best", frameon=False)
    else:  # many runs: a legend inside would cover the curves, so it goes under the panel
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=7, frameon=False)


def plot_curves(
    selected: Sequence[Run],
    out: str | Path,
    formats: Sequence[str] = ("png",),
    scale: str = "linear",
    columns: int = 3,
    title: str | None = None,
) -> list[Path]:
    """Draw train/test loss per epoch of ``selected`` runs, one panel per task; return the written files."""
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} is not one of {SCALES}")
    tasks = sorted({r.cfg.task for r in selected})
    ncols = max(1, min(columns, len(tasks)))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = new_figure(4.6 * ncols, 3.6 * nrows, nrows=nrows, ncols=ncols, squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        _draw_task(ax, task, [r for r in selected if r.cfg.task == task], scale)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    studies = sorted({r.cfg.study for r in selected})
    fig.suptitle(title or f"Train (solid) and test (dashed) loss per epoch, study {', '.join(studies)}")
    fig.tight_layout()
    return save_figure(fig, out, formats)
