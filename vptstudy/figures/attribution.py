"""GradCAM and Integrated Gradients of two runs on the same test images (paper Figures 8, 17, 18).

GradCAM is captum's ``LayerGradCam`` on the patch tokens entering the last block's attention (the output of
``blocks[-1].norm1``): a forward hook lays the patch tokens out on their grid ``[B, D, H, W]`` and passes them
through an identity module, which is the layer captum attributes to. CLS, register and prompt tokens are left out,
so plain and prompted models are attributed on the same patch tokens. (At the last block's *output* the patch
gradients are zero, since the head reads CLS only.) Integrated Gradients shows absolute attributions summed over
colour channels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam
from torch import nn

from vptstudy.data import load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.device import resolve_device
from vptstudy.errors import UserError
from vptstudy.figures.select import Run, one_task, require_weights
from vptstudy.figures.style import new_figure, save_figure
from vptstudy.load import load_run
from vptstudy.models.prompts import PromptedViT

SELECTIONS = ("ft-wrong-vpt-right", "vpt-wrong-ft-right", "both-right", "both-wrong")
KINDS = ("gradcam", "ig")
TARGETS = ("label", "pred")
Callback = Callable[[str, dict[str, Any]], None]


class PatchGrid(nn.Module):
    """Identity on the patch-token grid ``[B, D, H, W]``: the layer LayerGradCam reads."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@contextmanager
def patch_grid_tap(model: PromptedViT) -> Iterator[PatchGrid]:
    """Route the patch tokens of ``blocks[-1].norm1``'s output through a :class:`PatchGrid` while active."""
    vit = model.vit
    keep = vit.num_prefix_tokens + model.num_prompts
    gh, gw = vit.patch_embed.grid_size
    grid = PatchGrid()

    def hook(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
        b, t, d = out.shape
        if t != keep + gh * gw:
            raise ValueError(f"expected {keep} + {gh}x{gw} tokens at blocks[-1].norm1, got {t}")
        patches = grid(out[:, keep:].transpose(1, 2).reshape(b, d, gh, gw))
        return torch.cat([out[:, :keep], patches.flatten(2).transpose(1, 2)], dim=1)

    handle = vit.blocks[-1].norm1.register_forward_hook(hook)
    try:
        yield grid
    finally:
        handle.remove()


def gradcam_maps(model: PromptedViT, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ReLU'd GradCAM on the patch grid, ``[B, 1, grid_h, grid_w]`` (not upsampled)."""
    with patch_grid_tap(model) as grid:
        cam = LayerGradCam(model, grid).attribute(
            x.detach().clone().requires_grad_(True), target=target, relu_attributions=True
        )
    return cam.detach()


def gradcam(model: PromptedViT, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """GradCAM upsampled (bilinear) to the input size, ``[B, H, W]``."""
    cam = LayerAttribution.interpolate(gradcam_maps(model, x, target), tuple(x.shape[-2:]), "bilinear")
    return cam[:, 0]


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int = 32) -> torch.Tensor:
    """Absolute Integrated Gradients summed over channels, ``[B, H, W]``; the baseline is 0 in normalised space
    (the normalisation mean colour)."""
    ig = IntegratedGradients(model)
    attr = ig.attribute(x.detach().clone(), baselines=0.0, target=target, n_steps=steps, internal_batch_size=steps)
    return attr.detach().abs().sum(1)


@torch.inference_mode()
def predict(model: nn.Module, images: DeviceImages, batch_size: int = 256) -> torch.Tensor:
    """Predicted classes of every image in ``images``."""
    return torch.cat([model(x).argmax(-1).cpu() for x, _ in images.batches(batch_size)])


def select_images(
    ft_pred: torch.Tensor, vpt_pred: torch.Tensor, labels: torch.Tensor, selection: str, n: int, seed: int = 0
) -> torch.Tensor:
    """Up to ``n`` test indices (sorted) matching ``selection``, drawn at random with ``seed``."""
    if selection not in SELECTIONS:
        raise UserError(f"unknown selection {selection!r}", "--select", f"use one of {', '.join(SELECTIONS)}")
    ft_ok, vpt_ok = ft_pred == labels, vpt_pred == labels
    mask = {
        "ft-wrong-vpt-right": ~ft_ok & vpt_ok,
        "vpt-wrong-ft-right": ft_ok & ~vpt_ok,
        "both-right": ft_ok & vpt_ok,
        "both-wrong": ~ft_ok & ~vpt_ok,
    }[selection]
    candidates = torch.nonzero(mask).flatten()
    order = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))
    return candidates[order[:n]].sort().values


def _normalised(m: np.ndarray, q: float = 99.0) -> np.ndarray:
    top = float(np.percentile(m, q)) if m.size else 0.0
    return np.clip(m / top, 0, 1) if top > 0 else np.zeros_like(m)


def check_pair(pair: list[Run]) -> str:
    """The task of two runs that can be compared image by image; a :class:`UserError` otherwise."""
    for run in pair:
        if not (run.path / "config.json").is_file():
            raise UserError(f"{str(run.path)!r} is not a run directory", str(run.path), "pass a run folder")
    task = one_task(pair, "an attribution figure")
    for run in pair:
        require_weights(run)
    where = f"{pair[0].path}, {pair[1].path}"
    if pair[0].input_size != pair[1].input_size:
        raise UserError(
            f"the runs use different input sizes ({pair[0].input_size} and {pair[1].input_size})",
            where,
            "pass two runs trained at the same --img-size",
        )
    sizes = {(r.meta.get("resolved", {}).get("split") or {}).get("test") for r in pair}
    if len(sizes) > 1:
        raise UserError(
            f"the runs were tested on different test sets ({' and '.join(str(n) for n in sizes)} images)",
            where,
            "pass two runs of the same task and data",
        )
    return task


def attribution_figure(
    ft_run: str | Path,
    vpt_run: str | Path,
    out: str | Path,
    formats: Sequence[str] = ("png",),
    selection: str = "ft-wrong-vpt-right",
    kinds: Sequence[str] = KINDS,
    num_images: int = 4,
    target: str = "label",
    seed: int = 0,
    ig_steps: int = 32,
    device: str = "cpu",
    callback: Callback | None = None,
) -> list[Path]:
    """Rows ``input | GradCAM first | GradCAM second | IG first | IG second`` for test images picked by
    ``selection``; ``ft_run``/``vpt_run`` name the two runs (any methods). Returns the written files."""
    notify = callback or (lambda event, info: None)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise UserError(f"unknown attribution kinds {bad}", "kinds", f"use {' and/or '.join(KINDS)}")
    if target not in TARGETS:
        raise UserError(f"unknown target {target!r}", "--target", f"use one of {', '.join(TARGETS)}")
    pair = [Run(Path(ft_run)), Run(Path(vpt_run))]
    task = check_pair(pair)
    dev = resolve_device(device)
    notify("load", {"task": task})
    data = load_task_data(pair[0].cfg, pair[0].input_size)
    test = DeviceImages(data.test, data.preprocess, dev, train=False)
    models = [load_run(run.path, dev) for run in pair]
    for model in models:
        model.requires_grad_(False)
    notify("predict", {"images": len(test)})
    preds = [predict(m, test) for m in models]
    labels = data.test.labels
    index = select_images(preds[0], preds[1], labels, selection, num_images, seed)
    if len(index) == 0:
        raise UserError(
            f"no test images of {task} match {selection}",
            f"{pair[0].path}, {pair[1].path}",
            f"choose another --select ({', '.join(s for s in SELECTIONS if s != selection)})",
        )
    chosen = DeviceImages(data.test.subset(index), data.preprocess, dev, train=False)
    x, _ = next(chosen.batches(len(index)))  # the evaluation inputs, exactly as the runs were tested
    y = labels[index].to(dev) if target == "label" else preds[1][index].to(dev)
    maps: dict[tuple[str, int], np.ndarray] = {}
    for kind in kinds:
        for i, model in enumerate(models):
            notify("attribute", {"kind": kind, "run": str(pair[i].path)})
            m = gradcam(model, x, y) if kind == "gradcam" else integrated_gradients(model, x, y, ig_steps)
            maps[(kind, i)] = m.float().cpu().numpy()
    shown = (x * chosen.std / 255 + chosen.mean / 255).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return _render(pair, shown, index, labels, preds, maps, kinds, selection, target, out, formats)


def _render(
    pair: list[Run],
    shown: np.ndarray,
    index: torch.Tensor,
    labels: torch.Tensor,
    preds: list[torch.Tensor],
    maps: dict[tuple[str, int], np.ndarray],
    kinds: Sequence[str],
    selection: str,
    target: str,
    out: str | Path,
    formats: Sequence[str],
) -> list[Path]:
    rows, cols = len(index), 1 + 2 * len(kinds)
    fig, axes = new_figure(2.1 * cols, 2.3 * rows + 0.6, nrows=rows, ncols=cols, squeeze=False)
    titles = ["input"] + [
        f"{'GradCAM' if k == 'gradcam' else 'IG'} {pair[i].cfg.method}" for k in kinds for i in (0, 1)
    ]
    for r, idx in enumerate(index.tolist()):
        y = int(labels[idx])
        marks = [
            f"{p.cfg.method}: {pair[0].class_name(int(pr[idx]))} {'✓' if int(pr[idx]) == y else '✗'}"
            for p, pr in zip(pair, preds, strict=True)
        ]
        axes[r, 0].imshow(shown[r], interpolation="nearest")
        axes[r, 0].set_ylabel(f"#{idx} label {pair[0].class_name(y)}\n" + "\n".join(marks), fontsize=8)
        c = 1
        for kind in kinds:
            for i in (0, 1):
                ax = axes[r, c]
                if kind == "gradcam":
                    ax.imshow(shown[r], interpolation="nearest")
                    ax.imshow(_normalised(maps[(kind, i)][r], 100.0), cmap="jet", alpha=0.45, vmin=0, vmax=1)
                else:
                    ax.imshow(_normalised(maps[(kind, i)][r]), cmap="inferno", vmin=0, vmax=1)
                c += 1
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.spines[:].set_visible(False)
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
    task = pair[0].cfg.task
    fig.suptitle(
        f"{task}: {selection} (maps for the {'true' if target == 'label' else 'second run’s predicted'} class)\n"
        f"{pair[0].label} ({pair[0].path.parent.name}) vs {pair[1].label} ({pair[1].path.parent.name})",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out, formats)
