"""Mixed: VPT-deep prompts added and everything trains (AdamW), paper section 5.2."""

import torch

from vptstudy.config import RunConfig
from vptstudy.methods.base import ADAMW_LR_GRID, WD_GRID, Method, Phase, add_prompts, train_all
from vptstudy.models.prompts import PromptedViT


def _prepare(model: PromptedViT, cfg: RunConfig, gen: torch.Generator) -> None:
    add_prompts(model, cfg, "deep", gen)
    train_all(model)


MIXED = Method(
    name="mixed",
    summary="Mixed: deep prompts added and the whole network trains (AdamW)",
    phases=(Phase("train", "adamw", _prepare),),
    lr_grid=ADAMW_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=0.0005,
    default_wd=0.001,
    uses_prompts=True,
)
