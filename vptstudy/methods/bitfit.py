"""BitFit: only the backbone's bias terms (attention, MLP, norms, patch embedding) and the head train (SGD)."""

from __future__ import annotations

import torch

from vptstudy.config import RunConfig
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase
from vptstudy.methods.modules import method_options
from vptstudy.models.tunable import TunableBackbone


def is_bias(name: str) -> bool:
    """A bias vector of any layer (``...bias``)."""
    return name == "bias" or name.endswith(".bias")


def prepare_bitfit(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    """Train every bias and the head; everything else stays frozen (and the backbone in eval mode)."""
    method_options(cfg, {})
    model.set_trainable(lambda name, param: model.is_head(name) or is_bias(name), frozen_eval=True)


BITFIT = Method(
    name="bitfit",
    summary="BitFit: the backbone's biases + head train, weights frozen (SGD)",
    phases=(Phase("train", "sgd", prepare_bitfit),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=0.5,
    default_wd=0.0001,
)
