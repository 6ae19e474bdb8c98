"""The paper's Figure 3: FID per task, the bar coloured by the winning method, hatched for high task disparity.

With per-seed accuracies the winner is the paired test's, and a task whose difference is within seed noise is
drawn light grey ("undecided") rather than in the colour of the higher mean.

Tasks are grouped (natural, specialized, structured, ...) in the order of the table, with the group named under
its bars; a dashed line marks the FID threshold of the quadrant split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from vptstudy.analysis.quadrant import QuadrantTable
from vptstudy.figures.style import method_color, new_figure, save_figure

TIE_COLOR = "#BBBBBB"
UNDECIDED_COLOR = "#E4E4E4"
HATCH = "///"


def display(method: str) -> str:
    """``vpt-deep`` -> ``VPT-deep``, ``ft`` -> ``FT``."""
    head, _, tail = method.partition("-")
    return head.upper() + (f"-{tail}" if tail else "")


def _short(task: str) -> str:
    """``vtab/cifar100`` -> ``cifar100`` (the group is shown under the bars)."""
    return task.split("/", 1)[-1]


def winner_colors(table: QuadrantTable) -> dict[str, str]:
    """Bar colour per winner: each method's own colour, grey for a tie, light grey for "undecided"."""
    return {
        "ft": method_color(table.ft_method),
        "vpt": method_color(table.vpt_method),
        "tie": TIE_COLOR,
        "undecided": UNDECIDED_COLOR,
    }


def plot_quadrant(
    table: QuadrantTable,
    path: str | Path,
    formats: Sequence[str] = ("png",),
    title: str | None = None,
    feature_label: str = "FID",
) -> list[Path]:
    """Draw Figure 3 from a :class:`QuadrantTable`; returns the written files (atomic, one per format)."""
    rows = table.rows
    colors = winner_colors(table)
    fig, ax = new_figure(max(5.0, 0.42 * len(rows) + 2.2), 3.8)
    xs = list(range(len(rows)))
    bars = ax.bar(
        xs,
        [r.fid for r in rows],
        color=[colors[r.winner] for r in rows],
        edgecolor="black",
        linewidth=0.6,
        width=0.75,
        zorder=3,
    )
    for bar, row in zip(bars, rows, strict=True):
        if row.disparity == "high":
            bar.set_hatch(HATCH)
    ax.axhline(table.threshold, color="black", linestyle="--", linewidth=1.0, zorder=4)
    ax.set_xticks(xs, [_short(r.task) for r in rows], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel(feature_label)
    ax.grid(axis="x", visible=False)
    ax.set_title(title or f"{feature_label} to the pretraining data and the better method per task", pad=18)

    _label_groups(ax, rows)
    _legend(ax, table, colors)
    return save_figure(fig, path, formats)


def _label_groups(ax: Any, rows: Sequence[Any]) -> None:
    """Group names under their bars, thin separators between groups."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].group != rows[start].group:
            centre = (start + i - 1) / 2
            ax.annotate(
                rows[start].group,
                xy=(centre, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
                style="italic",
            )
            if i < len(rows):
                ax.axvline(i - 0.5, color="grey", linewidth=0.6, linestyle=":", zorder=2)
            start = i


def _legend(ax: Any, table: QuadrantTable, colors: dict[str, str]) -> None:
    """Winner colours, disparity hatching and the threshold line, to the right of the axes."""
    rows = table.rows
    handles = [
        Patch(facecolor=colors["ft"], edgecolor="black", label=f"{display(table.ft_method)} wins"),
        Patch(facecolor=colors["vpt"], edgecolor="black", label=f"{display(table.vpt_method)} wins"),
    ]
    if any(r.winner == "tie" for r in rows):
        handles.append(Patch(facecolor=TIE_COLOR, edgecolor="black", label="tie"))
    if any(r.winner == "undecided" for r in rows):
        handles.append(Patch(facecolor=UNDECIDED_COLOR, edgecolor="black", label="undecided (paired test, p ≥ 0.05)"))
    handles += [
        Patch(facecolor="white", edgecolor="black", label="low task disparity"),
        Patch(facecolor="white", edgecolor="black", hatch=HATCH, label="high task disparity"),
        Line2D(
            [], [], color="black", linestyle="--", label=f"threshold {table.threshold:.1f} ({table.threshold_rule})"
        ),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
