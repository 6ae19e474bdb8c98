"""Embeddings of the final CLS features (VPT Figure 9: t-SNE; E2VPT Figure 3: hyperbolic UMAP on the Poincare disk).

Features are the head's input (``pre_logits``: CLS after the final norm) of up to ``max_points`` test images, a
seeded subsample; they are cached in the run directory as ``features-test<N>-n<M>-s<seed>.npz`` so a re-plot skips
the model. Panels sit side by side, one per run, points coloured by class.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Circle

from vptstudy import runs
from vptstudy.data import load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.device import resolve_device
from vptstudy.errors import UserError
from vptstudy.figures.select import Run, require_weights
from vptstudy.figures.style import new_figure, save_figure
from vptstudy.load import load_run

KINDS = ("tsne", "umap")
MIN_POINTS = 5
Callback = Callable[[str, dict[str, Any]], None]


def feature_cache_path(run: Run, max_points: int, seed: int) -> Path | None:
    """The cache file for this run's test set size and subsample; None when the size is not recorded."""
    n_test = (run.meta.get("resolved", {}).get("split") or {}).get("test")
    if n_test is None:
        return None
    return run.path / f"features-test{n_test}-n{min(max_points, n_test)}-s{seed}.npz"


@torch.inference_mode()
def _extract(run: Run, max_points: int, seed: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    data = load_task_data(run.cfg, run.input_size)
    n = len(data.test)
    index = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(max_points, n)].sort().values
    images = DeviceImages(data.test.subset(index), data.preprocess, device, train=False)
    model = load_run(run.path, device)
    feats = torch.cat([model.pre_logits(x).float().cpu() for x, _ in images.batches(256)])
    return feats.numpy(), data.test.labels[index].numpy()


def run_features(
    run: Run, max_points: int = 2000, seed: int = 0, device: str = "cpu", callback: Callback | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(features [M, D], labels [M])`` of a seeded test subsample, from the run's cache when present."""
    notify = callback or (lambda event, info: None)
    require_weights(run)
    cache = feature_cache_path(run, max_points, seed)
    weights = (run.path / runs.TRAINABLE).stat()
    source = np.array([weights.st_size, weights.st_mtime_ns], dtype=np.int64)  # stale if the weights change
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            if np.array_equal(stored["source"], source):
                notify("cached", {"run": str(run.path), "file": str(cache)})
                return stored["features"], stored["labels"]
    notify("extract", {"run": str(run.path)})
    feats, labels = _extract(run, max_points, seed, resolve_device(device))
    if cache is not None:
        buf = io.BytesIO()
        np.savez(buf, features=feats, labels=labels, source=source)
        try:
            runs.atomic_write_bytes(cache, buf.getvalue())
        except OSError as exc:  # a read-only run folder: plot anyway
            notify("cache-failed", {"file": str(cache), "reason": str(exc)})
    return feats, labels


def tsne_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE to 2-D (PCA init, automatic learning rate)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    tsne = TSNE(2, init="pca", learning_rate="auto", perplexity=perplexity, max_iter=1000, random_state=seed)
    return tsne.fit_transform(features)


def hyperboloid_to_poincare(xy: np.ndarray) -> np.ndarray:
    """Map UMAP's hyperboloid (x, y) to the Poincare disk: ``(x, y) / (1 + sqrt(1 + x^2 + y^2))``."""
    z = np.sqrt(1.0 + np.sum(xy.astype(np.float64) ** 2, axis=1, keepdims=True))
    return xy / (1.0 + z)


def umap_poincare(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """UMAP with the hyperboloid output metric, mapped to the Poincare disk (all radii < 1)."""
    import umap  # slow import (numba): only when asked for

    # a seed makes UMAP single-threaded anyway; saying n_jobs=1 keeps it from warning about it
    reducer = umap.UMAP(
        output_metric="hyperboloid", n_neighbors=min(15, len(features) - 1), random_state=seed, n_jobs=1
    )
    return hyperboloid_to_poincare(reducer.fit_transform(features))


def _class_colors(num_classes: int) -> Any:
    import matplotlib

    name = "tab10" if num_classes <= 10 else "tab20" if num_classes <= 20 else "turbo"
    return matplotlib.colormaps[name].resampled(max(num_classes, 2))


def embedding_figure(
    run_paths: Sequence[str | Path],
    out: str | Path,
    kind: str = "tsne",
    formats: Sequence[str] = ("png",),
    max_points: int = 2000,
    seed: int = 0,
    device: str = "cpu",
    callback: Callback | None = None,
) -> list[Path]:
    """One panel per run: its test features embedded by ``kind`` (tsne or umap); returns the written files."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    selected = [Run(Path(p)) for p in run_paths]
    for run in selected:
        require_weights(run)
    notify = callback or (lambda event, info: None)
    points = []
    for run in selected:
        feats, labels = run_features(run, max_points, seed, device, notify)
        if len(feats) < MIN_POINTS:
            raise UserError(
                f"{len(feats)} test images are too few to embed", str(run.path), f"use a test set of {MIN_POINTS}+"
            )
        notify("embed", {"run": str(run.path), "kind": kind, "points": len(feats)})
        points.append((tsne_2d(feats, seed) if kind == "tsne" else umap_poincare(feats, seed), labels))
    classes = max(int(r.meta.get("resolved", {}).get("num_classes") or labels.max() + 1) for r in selected)
    cmap = _class_colors(classes)
    legend = classes <= 20
    class_names = [selected[0].class_name(c) for c in range(classes)]
    # room for the legend: its marker and padding, plus about 0.075 in per character of the longest name
    side = 0.5 + 0.075 * max(len(name) for name in class_names) if legend else 0.0
    fig, axes = new_figure(4.0 * len(selected) + side, 4.3, ncols=len(selected), squeeze=False)
    for ax, run, (xy, labels) in zip(axes[0], selected, points, strict=True):
        ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap=cmap, vmin=-0.5, vmax=classes - 0.5, s=5, linewidths=0)
        if kind == "umap":
            ax.add_patch(Circle((0, 0), 1.0, fill=False, color="0.3", lw=1.0))
            ax.set_xlim(-1.03, 1.03)
            ax.set_ylim(-1.03, 1.03)
        ax.set_aspect("equal", adjustable="box")
        ax.set_axis_off()
        ax.set_title(f"{run.cfg.task}\n{run.label} ({run.path.parent.name})", fontsize=9)
    if legend:
        handles = [Line2D([], [], ls="", marker="o", color=cmap(c)) for c in range(classes)]
        fig.legend(handles, class_names, title="class", loc="center right", frameon=False)
    what = "t-SNE" if kind == "tsne" else "hyperbolic UMAP (Poincare disk)"
    fig.suptitle(f"{what} of final CLS features of test images, coloured by class")
    fig.tight_layout(rect=(0, 0, 1 - side / fig.get_figwidth(), 1))
    return save_figure(fig, out, formats)
