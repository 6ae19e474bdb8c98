"""FT: full fine-tuning; the backbone and a new linear head all train (AdamW)."""

from vptstudy.methods.base import ADAMW_LR_GRID, WD_GRID, Method, Phase, train_all

FT = Method(
    name="ft",
    summary="full fine-tuning: backbone and new head train (AdamW)",
    phases=(Phase("train", "adamw", lambda model, cfg, gen: train_all(model)),),
    lr_grid=ADAMW_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=0.0005,
    default_wd=0.001,
)
