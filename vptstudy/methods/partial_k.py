"""Partial-k: the last k transformer blocks, everything after them (final norm) and the head train (SGD).

Option ``k`` (1). Blocks count across Swin stages too; a Swin stage's patch merging that lies after the first tuned
block trains with it. ``k = 0`` is the linear probe. The backbone runs in eval mode (no dropout or drop-path), the tuned
blocks included, like every method here that freezes part of it.
"""

from __future__ import annotations

import torch

from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, train_head_and
from vptstudy.methods.modules import method_options, transformer_blocks
from vptstudy.models.tunable import TunableBackbone

OPTIONS = {"k": 1}


def last_k_names(model: TunableBackbone, k: int) -> set[str]:
    """Names of the parameters from the first of the last ``k`` blocks to the end of the backbone."""
    blocks = transformer_blocks(model.backbone)
    if not 0 <= k <= len(blocks):
        raise UserError(f"partial-k with k={k}", "--method-option k", f"use 0 <= k <= {len(blocks)} (the block count)")
    if k == 0:
        return set()
    first = f"{model.backbone_attr}.{blocks[-k][0]}."
    names = [name for name, _ in model.named_parameters()]
    start = next(i for i, name in enumerate(names) if name.startswith(first))
    return set(names[start:])


def prepare_partial_k(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    """Train the last k blocks, the final norm and the head; the earlier blocks stay frozen."""
    tuned = last_k_names(model, method_options(cfg, OPTIONS)["k"])
    train_head_and(model, tuned)


PARTIAL_K = Method(
    name="partial-k",
    summary="Partial-k: the last k blocks (option k, default 1) + final norm + head train (SGD)",
    phases=(Phase("train", "sgd", prepare_partial_k),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=0.05,
    default_wd=0.001,
)
