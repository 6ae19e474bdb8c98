"""E2VPT (ICCV 2023): VPT-deep input prompts plus key-value prompts in every block's attention (SGD).

``e2vpt`` trains the visual prompts (``--prompts``, deep, as VPT-deep), the key-value prompts and the head.
``e2vpt-prune`` adds the paper's pruning and rewinding as a second phase: after the first phase, each layer's
lowest-importance visual prompt tokens are pruned (fraction ``prune_tokens``), the kept tokens are cut into
``segments`` parts and the lowest-importance fraction ``prune_segments`` of those is zeroed; then the prompts, the
key-value prompts and the head are rewound to their initial values and retrained with the pruned prompts, at the
same lr and weight decay (the searched ones). Importance is the mask-gradient score on the training split.

Options: ``kv_prompts`` (5), ``share_kv`` (true: one tensor serves as both key and value prompts, as in the
paper), ``kv_dropout`` (0.0); for ``e2vpt-prune`` also ``prune_tokens`` (0.5), ``prune_segments`` (0.25; with
0.5 that is the 62.5% of the paper's SVHN row), ``segments`` (8, as in the paper) and ``prune_mode`` (``zero``:
pruned tokens are held at zero in place, as the official code masks them; ``remove``: they are cut out of the
prompt tensor, which is faster but changes the function, since a zero token still joins attention). ViT only.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from timm.models.vision_transformer import VisionTransformer

from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, add_prompts, is_prompt
from vptstudy.methods.kv_prompts import add_kv_prompts
from vptstudy.methods.modules import adapter_param_names, method_options, require_backbone
from vptstudy.methods.pruning import PRUNE_MODES, fraction, install_segment_mask, keep_tokens, prune
from vptstudy.models.prompts import PromptedViT
from vptstudy.models.tunable import TunableBackbone

OPTIONS = {"kv_prompts": 5, "share_kv": True, "kv_dropout": 0.0}
INERT = {"kv_dropout": "the key-value prompts sit inside the frozen backbone, held in eval mode, so it never acts"}
PRUNE_OPTIONS = {**OPTIONS, "prune_tokens": 0.5, "prune_segments": 0.25, "segments": 8, "prune_mode": "zero"}


def _train_prompts(model: PromptedViT) -> None:
    kv = adapter_param_names(model)
    model.set_trainable(lambda name, param: model.is_head(name) or is_prompt(name) or name in kv, frozen_eval=True)


def add_e2vpt(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator, opts: dict) -> None:
    """Deep visual prompts and key-value prompts; prompts and head trainable, backbone frozen."""
    require_backbone(model, cfg.method, (VisionTransformer,))
    if opts["kv_prompts"] < 0:
        raise UserError("kv_prompts must be >= 0", "--method-option kv_prompts", "e.g. kv_prompts=5")
    add_prompts(model, cfg, "deep", gen)
    add_kv_prompts(model.vit, opts["kv_prompts"], opts["share_kv"], opts["kv_dropout"], gen)
    _train_prompts(model)
    model.e2vpt_start = {n: p.detach().cpu().clone() for n, p in model.trainable_parameters()}


def prepare_e2vpt(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    add_e2vpt(model, cfg, gen, method_options(cfg, OPTIONS))


def _prune_options(cfg: RunConfig, width: int) -> dict:
    opts = method_options(cfg, PRUNE_OPTIONS)
    if cfg.num_prompts < 1:
        raise UserError("e2vpt-prune prunes visual prompts, and there are none", "--prompts", "use --prompts >= 1")
    if opts["segments"] < 1 or width % opts["segments"]:
        raise UserError(
            f"the prompt width {width} does not split into {opts['segments']} segments",
            "--method-option segments",
            "use a divisor of the backbone's width",
        )
    if opts["prune_mode"] not in PRUNE_MODES:
        raise UserError(
            f"unknown prune_mode {opts['prune_mode']!r}",
            "--method-option prune_mode",
            f"use one of {', '.join(PRUNE_MODES)} (zero: the official masking; remove: faster)",
        )
    fraction(opts["prune_tokens"], "prune_tokens")
    fraction(opts["prune_segments"], "prune_segments")
    return opts


def prepare_e2vpt_first(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    require_backbone(model, cfg.method, (VisionTransformer,))
    add_e2vpt(model, cfg, gen, _prune_options(cfg, model.vit.embed_dim))


def _train_batches(model: PromptedViT, cfg: RunConfig) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The run's training split, unaugmented, on the model's device (for the importance scores)."""
    from vptstudy.data import load_task_data
    from vptstudy.data.pipeline import DeviceImages
    from vptstudy.models.backbones import default_input_size

    data = load_task_data(cfg, cfg.img_size or default_input_size(cfg.model))
    device = next(model.parameters()).device
    return DeviceImages(data.train, data.preprocess, device, train=False).batches(cfg.batch_size)


@torch.no_grad()
def rewind(model: PromptedViT, index: torch.Tensor) -> None:
    """Reset every trained tensor to its value at the start of the first phase (kept prompt tokens only)."""
    start = model.e2vpt_start
    keep_tokens(model, index, start["prompt"])
    for name, param in model.named_parameters():
        if name in start and name != "prompt":
            param.copy_(start[name].to(param.device, param.dtype))


def prepare_rewind(model: PromptedViT, cfg: RunConfig, gen: torch.Generator) -> None:
    """Prune the trained prompts by importance, rewind, and train the kept prompts, key-value prompts and head.

    When the prompts are still at their initial values (a model rebuilt to load a run's stored tensors, or a
    run resumed inside this phase) only the pruned shapes are set up: the stored tensors carry the rest.
    """
    opts = _prune_options(cfg, model.vit.embed_dim)
    trained = not torch.equal(model.prompt.detach().cpu(), model.e2vpt_start["prompt"])
    batches = (lambda: _train_batches(model, cfg)) if trained else None
    index, keep = prune(
        model, batches, opts["prune_tokens"], opts["prune_segments"], opts["segments"], opts["prune_mode"]
    )
    rewind(model, index)
    install_segment_mask(model, keep)
    _train_prompts(model)


E2VPT = Method(
    name="e2vpt",
    summary="E2VPT: deep visual prompts + key-value prompts in attention (kv_prompts, share_kv) + head (SGD)",
    phases=(Phase("train", "sgd", prepare_e2vpt),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=1.0,
    default_wd=0.001,
    uses_prompts=True,
    inert_options=INERT,
)

E2VPT_PRUNE = Method(
    name="e2vpt-prune",
    summary="E2VPT with token- and segment-wise prompt pruning, then rewinding (prune_tokens, prune_segments)",
    phases=(Phase("train", "sgd", prepare_e2vpt_first), Phase("rewind", "sgd", prepare_rewind)),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=1.0,
    default_wd=0.001,
    uses_prompts=True,
    inert_options=INERT,
)
