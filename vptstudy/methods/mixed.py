"""Mixed: VPT-deep prompts added and everything trains (SGD), paper section 5.2.

The encoder stays in eval mode while it trains (no backbone dropout; prompt dropout still acts), as in the study's
code: Mixed is its ``prompt`` transfer type with ``FT_PT_MIXED``, whose ``PromptedTransformer.train`` puts the
encoder and embeddings in eval mode (S src/models/vit_prompt/vit.py:100-107); every parameter still trains
(S src/models/vit_models.py:119).
The recipe is the study's prompt recipe: SGD with the prompt lr grid, one lr shared by prompts and backbone
(S configs/base-prompt.yaml).
"""

import torch

from vptstudy.config import RunConfig
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, add_prompts, train_all_encoder_eval
from vptstudy.models.tunable import TunableBackbone


def _prepare(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    add_prompts(model, cfg, "deep", gen)
    train_all_encoder_eval(model)


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
