"""MLP-k: a k-layer MLP head on the frozen backbone (SGD), the multi-layer probe of VPT and the paper's section 5.3.

As in VPT's code, the head is ``k - 1`` hidden blocks ``Linear -> ReLU -> norm -> Dropout(0.1)`` of the
backbone's width, then a linear classifier: MLP-3 (the default) has two hidden layers. VPT's norm is BatchNorm1d;
here it is LayerNorm (the same parameter count), because a run stores only its trained tensors and BatchNorm's
running statistics are buffers that a reloaded or resumed run would lose. Options: ``k`` (3), ``hidden`` (0 = the
feature width), ``dropout`` (0.1). The probe replaces the backbone's classifier (so its parameters are named
``vit.head...`` or ``swin.head...``) and follows the tuned model's train/eval mode (dropout), while the frozen
backbone stays in eval mode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase
from vptstudy.methods.modules import method_options, replace_module
from vptstudy.models.tunable import TunableBackbone

OPTIONS = {"k": 3, "hidden": 0, "dropout": 0.1}


class MLPProbe(nn.Module):
    """``k - 1`` hidden blocks (Linear, ReLU, LayerNorm, Dropout) and a final ``fc`` classifier."""

    def __init__(
        self,
        dim: int,
        num_classes: int,
        k: int,
        hidden: int,
        dropout: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = dim
        for _ in range(k - 1):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.LayerNorm(hidden), nn.Dropout(dropout)]
            width = hidden
        self.hidden = nn.Sequential(*layers)
        self.fc = nn.Linear(width, num_classes)
        for linear in [m for m in self.modules() if isinstance(m, nn.Linear)]:
            std = (2.0 / linear.out_features) ** 0.5  # VPT: kaiming_normal_(mode="fan_out"), zero bias
            with torch.no_grad():
                linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * std)
                linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.hidden(x))


def _follow_model_mode(model: TunableBackbone, args: Any) -> None:
    """Forward pre-hook: the probe trains when the tuned model does, even though the frozen backbone is in eval."""
    model.backbone.get_classifier().train(model.training)


def add_probe(
    model: TunableBackbone, k: int, hidden: int = 0, dropout: float = 0.1, generator: torch.Generator | None = None
) -> MLPProbe:
    """Replace the backbone's classifier by an :class:`MLPProbe` with the same input width and classes."""
    head = model.backbone.get_classifier()
    if not isinstance(head, nn.Linear):
        raise UserError("the backbone has no linear classifier to replace", "--model", "use a timm ViT or Swin")
    probe = MLPProbe(head.in_features, head.out_features, k, hidden or head.in_features, dropout, generator)
    probe.to(head.weight.device, head.weight.dtype)
    name = next(n for n, m in model.backbone.named_modules() if m is head)
    replace_module(model.backbone, name, probe)
    model.register_forward_pre_hook(_follow_model_mode)
    return probe


def prepare_mlp_k(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    """Put the MLP head on; train only it."""
    opts = method_options(cfg, OPTIONS)
    if opts["k"] < 1 or opts["hidden"] < 0:
        raise UserError(f"mlp-k with k={opts['k']}", "--method-option k", "use k >= 1 (k = 1 is a linear head)")
    add_probe(model, opts["k"], opts["hidden"], opts["dropout"], gen)
    model.set_trainable(lambda name, param: model.is_head(name), frozen_eval=True)


MLP_K = Method(
    name="mlp-k",
    summary="MLP-k: a k-layer MLP head (option k, default 3) on the frozen backbone (SGD)",
    phases=(Phase("train", "sgd", prepare_mlp_k),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=0.5,
    default_wd=0.0001,
)
