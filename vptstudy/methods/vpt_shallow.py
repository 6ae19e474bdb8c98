"""VPT-shallow: p prompts inserted once before block 1; prompts and head train (SGD)."""

import torch

from vptstudy.config import RunConfig
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, add_prompts, train_head_and_prompts
from vptstudy.models.tunable import TunableBackbone


def _prepare(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    add_prompts(model, cfg, "shallow", gen)
    train_head_and_prompts(model)


VPT_SHALLOW = Method(
    name="vpt-shallow",
    summary="VPT-shallow: prompts before block 1 + head train, backbone frozen (SGD)",
    phases=(Phase("train", "sgd", _prepare),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=1.0,
    default_wd=0.001,
    uses_prompts=True,
)
