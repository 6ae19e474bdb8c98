"""VPT-deep: fresh prompts before every block; prompts and head train, backbone frozen (SGD)."""

import torch

from vptstudy.config import RunConfig
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, add_prompts, train_head_and_prompts
from vptstudy.models.tunable import TunableBackbone


def prepare_vpt_deep(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    """Add deep prompts and train only prompts + head."""
    add_prompts(model, cfg, "deep", gen)
    train_head_and_prompts(model)


VPT_DEEP = Method(
    name="vpt-deep",
    summary="VPT-deep: prompts before every block + head train, backbone frozen (SGD)",
    phases=(Phase("train", "sgd", prepare_vpt_deep),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=1.0,
    default_wd=0.001,
    uses_prompts=True,
)
