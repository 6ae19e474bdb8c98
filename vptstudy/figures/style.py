"""Shared matplotlib style for every figure: Agg backend, readable font sizes, method colours, atomic saving.

Use :func:`new_figure` (or :func:`apply_style` before building a figure yourself) and :func:`save_figure`::

    fig, ax = new_figure(6.0, 3.5)
    ax.plot(...)
    paths = save_figure(fig, "figures/curves", formats=("png", "pdf"))

``save_figure`` writes each format to a temporary file in the target folder and renames it into place, so a
crash never leaves a half-written figure, and it closes the figure.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=True)

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
from matplotlib.figure import Figure

from vptstudy.runs import atomic_write_bytes

FORMATS = ("png", "pdf", "svg")
DPI = 200

# One colour per method, shared by every figure (colour-blind safe: Okabe-Ito).
METHOD_COLORS: dict[str, str] = {
    "ft": "#0072B2",
    "vpt-deep": "#D55E00",
    "vpt-shallow": "#E69F00",
    "mixed": "#009E73",
    "ft-then-pt": "#CC79A7",
    "linear": "#999999",
}
FALLBACK_COLORS = ("#56B4E9", "#F0E442", "#000000", "#882255", "#44AA99", "#117733")

RC: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "hatch.linewidth": 1.0,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "pdf.fonttype": 42,  # embed TrueType, so text stays editable in the PDF
    "svg.fonttype": "none",
}


def apply_style() -> None:
    """Set the shared rcParams (idempotent)."""
    plt.rcParams.update(RC)


def method_color(method: str, index: int = 0) -> str:
    """The method's fixed colour, or a stable fallback colour for an unknown method."""
    return METHOD_COLORS.get(method, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def new_figure(width: float = 6.4, height: float = 3.6, **subplots: Any) -> tuple[Figure, Any]:
    """A styled figure and its axes (``plt.subplots`` arguments pass through)."""
    apply_style()
    return plt.subplots(figsize=(width, height), **subplots)


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """Normalise format names (``.PNG`` -> ``png``); raise ValueError for one matplotlib cannot write here."""
    out = tuple(dict.fromkeys(f.lower().lstrip(".") for f in formats))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise ValueError(f"figure formats {bad or list(out)} not supported; use {', '.join(FORMATS)}")
    return out


def save_figure(fig: Figure, path: str | Path, formats: Sequence[str] = ("png",), dpi: int = DPI) -> list[Path]:
    """Save ``fig`` as ``path`` with each format's suffix, atomically; close it; return the written paths.

    ``path`` may carry a suffix (``out/fig.png``); it is replaced by each format's.
    """
    base = Path(path)
    if base.suffix.lower().lstrip(".") in FORMATS:
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for fmt in check_formats(formats):
            target = base.with_name(f"{base.name}.{fmt}")
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=dpi)
            atomic_write_bytes(target, buffer.getvalue())
            written.append(target)
    finally:
        plt.close(fig)
    return written
