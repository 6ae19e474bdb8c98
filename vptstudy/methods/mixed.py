"""Mixed: VPT-deep prompts added and everything trains, paper section 5.2.

The study's recipe: SGD with the prompt lr grid, one lr for prompts and backbone (S base-prompt.yaml).
"""

import torch

from vptstudy.config import RunConfig
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, add_prompts, train_all
from vptstudy.models.prompts import PromptedViT


def _prepare(model: PromptedViT, cfg: RunConfig, gen: torch.Generator) -> None:
    add_prompts(model, cfg, "deep", gen)
    train_all(model)


MIXED = Method(
    name="mixed",
    summary="Mixed: deep prompts added and the whole network trains (SGD)",
    phases=(Phase("train", "sgd", _prepare),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=1.0,
    default_wd=0.001,
    uses_prompts=True,
)
