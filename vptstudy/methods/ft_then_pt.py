"""FT-then-PT: full fine-tuning for E epochs, then VPT-deep on the frozen fine-tuned backbone for E more.

The searched lr/wd are those of the prompt phase (SGD grid). The FT phase is FT as the study runs it: in a study
that also runs ``ft`` on the same task and data regime, it takes FT's chosen lr/wd (searched after FT's search);
otherwise the method options ``ft_lr`` and ``ft_wd`` (defaults: FT's defaults).
"""

import torch

from vptstudy.config import RunConfig
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, train_all
from vptstudy.methods.ft import FT
from vptstudy.methods.vpt_deep import prepare_vpt_deep
from vptstudy.models.tunable import TunableBackbone


def _prepare_ft(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    train_all(model)


FT_THEN_PT = Method(
    name="ft-then-pt",
    summary="FT-then-PT: FT for E epochs, then VPT-deep on the frozen result for E more",
    phases=(
        Phase("ft", "adamw", _prepare_ft, searched=False, fixed_lr=FT.default_lr, fixed_wd=FT.default_wd, borrow="ft"),
        Phase("pt", "sgd", prepare_vpt_deep),
    ),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=1.0,
    default_wd=0.001,
    uses_prompts=True,
)
