"""Accuracy against training-set size (paper Figures 4, 14-16): one panel per task group, one colour per task,
one line style per method (FT solid, VPT dotted: styles follow the registry order), mean over seeds with a band
of +-1 standard deviation, log-scaled x axis.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from vptstudy.analysis.paired import crossover
from vptstudy.data import TASKS
from vptstudy.errors import UserError
from vptstudy.figures.select import Run, method_order
from vptstudy.figures.style import new_figure, save_figure

LINESTYLES = ("-", ":", "--", "-.")
TASK_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")


def size_points(selected: Sequence[Run]) -> dict[tuple[str, str], dict[int, list[float]]]:
    """``{(task, method): {train size: [final test accuracy of each seed]}}`` over finished data-size runs."""
    points: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in selected:
        result = run.result
        acc = result.test_acc if result is not None else None
        if run.cfg.train_size is None or result is None or not result.ok or acc is None:
            continue
        points[(run.cfg.task, run.cfg.method)][run.cfg.train_size].append(float(acc))
    return points


def _group(task: str) -> str:
    spec = TASKS.get(task)
    return spec.group if spec else "other"


def plot_datasize(
    selected: Sequence[Run],
    out: str | Path,
    formats: Sequence[str] = ("png",),
    title: str | None = None,
) -> list[Path]:
    """Draw test accuracy (%) against training-set size; return the written files."""
    points = size_points(selected)
    if not points:
        raise UserError(
            "no finished data-size runs among the runs given",
            ", ".join(sorted({str(r.path) for r in selected})[:3]),
            "run `vptstudy sweep-datasize` (runs with --train-size) and pass its output folder",
        )
    tasks = sorted({t for t, _ in points})
    methods = method_order(m for _, m in points)
    groups = sorted({_group(t) for t in tasks})
    color = {t: TASK_COLORS[i % len(TASK_COLORS)] for i, t in enumerate(tasks)}
    style = {m: LINESTYLES[i % len(LINESTYLES)] for i, m in enumerate(methods)}
    fig, axes = new_figure(4.8 * len(groups), 3.8, ncols=len(groups), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        sizes_seen: set[int] = set()
        for (task, method), by_size in sorted(points.items()):
            if _group(task) != group:
                continue
            sizes = sorted(by_size)
            sizes_seen.update(sizes)
            accs = [100 * np.array(by_size[s]) for s in sizes]
            mean = np.array([a.mean() for a in accs])
            std = np.array([a.std() for a in accs])
            ax.plot(sizes, mean, style[method], color=color[task], marker="o", ms=3.5, lw=1.6)
            ax.fill_between(sizes, mean - std, mean + std, color=color[task], alpha=0.15, lw=0)
        for task in (t for t in tasks if _group(t) == group):
            _mark_crossover(ax, points, task, color[task])
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(sorted(sizes_seen)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("training images (log scale)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{group} tasks")
        group_tasks = [t for t in tasks if _group(t) == group]
        handles = [Line2D([], [], color=color[t], lw=2) for t in group_tasks]
        handles += [Line2D([], [], color="0.2", ls=style[m]) for m in methods]
        ax.legend(handles, group_tasks + methods, frameon=False, loc="best")
    counts = {len(v) for by_size in points.values() for v in by_size.values()}
    seeds = max(counts)
    spread = f"mean ± std over {seeds} seeds" if counts == {seeds} else f"mean ± std over up to {seeds} seeds"
    spread = spread if seeds > 1 else "one seed per point"
    fig.suptitle(title or f"Test accuracy against training-set size ({spread})")
    fig.tight_layout()
    return save_figure(fig, out, formats)


def _mark_crossover(ax: Any, points: dict[tuple[str, str], dict[int, list[float]]], task: str, color: str) -> None:
    """A dashed vertical line where FT's mean overtakes VPT-deep's (see :func:`analysis.paired.crossover`)."""
    ft, vpt = points.get((task, "ft")), points.get((task, "vpt-deep"))
    if not ft or not vpt:
        return
    sizes = sorted(set(ft) & set(vpt))
    where = crossover(sizes, [float(np.mean(ft[n]) - np.mean(vpt[n])) for n in sizes])
    if where is not None:
        ax.axvline(where, color=color, ls="--", lw=1, alpha=0.7)
        ax.annotate(
            f"FT overtakes\nVPT at ~{where:.0f}",
            (where, 0.02),
            xycoords=("data", "axes fraction"),
            color=color,
            fontsize=7,
            ha="left",
            xytext=(3, 0),
            textcoords="offset points",
        )
