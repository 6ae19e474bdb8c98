"""Linear: a linear probe; only the new head trains on the frozen backbone (SGD)."""

from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, train_head_and_prompts

LINEAR = Method(
    name="linear",
    summary="linear probe: only the head trains on the frozen backbone (SGD)",
    phases=(Phase("train", "sgd", lambda model, cfg, gen: train_head_and_prompts(model)),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=1.0,
    default_wd=0.001,
)
