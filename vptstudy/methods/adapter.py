"""Adapter: a bottleneck MLP with a residual connection on the output of attention and/or MLP sublayers (SGD).

Options: ``where`` (``mlp``: after each block's MLP, the Pfeiffer placement of VPT's adapter baseline; ``attn``; or
``both``: after attention and MLP, as Houlsby et al.), ``reduction`` (8: bottleneck = width / 8) or ``bottleneck``
(an explicit width; 0 means use ``reduction``). The up projection starts at zero, so training starts from the
backbone itself. Adapters are attached with forward hooks and stored as ``adapter_attn`` / ``adapter_mlp`` children
of each block; timm's modules and parameter names stay as they are.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, train_head_and
from vptstudy.methods.modules import adapter_param_names, block_dim, method_options, transformer_blocks
from vptstudy.models.tunable import TunableBackbone

OPTIONS = {"where": "mlp", "reduction": 8, "bottleneck": 0}
PLACES = {"attn": ("attn",), "mlp": ("mlp",), "both": ("attn", "mlp")}


class Adapter(nn.Module):
    """``h + up(relu(down(h)))``; ``2 * dim * bottleneck + bottleneck + dim`` parameters, ``up`` zero-initialised."""

    def __init__(self, dim: int, bottleneck: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.act = nn.ReLU()
        self.up = nn.Linear(bottleneck, dim)
        bound = 1.0 / dim**0.5
        with torch.no_grad():
            self.down.weight.copy_(torch.empty(bottleneck, dim).uniform_(-bound, bound, generator=generator))
            self.down.bias.zero_()
            self.up.weight.zero_()
            self.up.bias.zero_()

    def adapter_params(self) -> list[str]:
        return [name for name, _ in self.named_parameters()]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.act(self.down(h)))

    def hook(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        """Forward hook for the wrapped sublayer: replaces its output by ``self(output)``."""
        return self(output)


def add_adapters(
    backbone: nn.Module,
    places: tuple[str, ...],
    reduction: int,
    bottleneck: int = 0,
    generator: torch.Generator | None = None,
) -> int:
    """Attach an :class:`Adapter` after the named sublayers (``attn``, ``mlp``) of every block; returns the count."""
    count = 0
    for _, block in transformer_blocks(backbone):
        dim = block_dim(block)
        width = bottleneck or max(1, dim // reduction)
        ref = block.norm1.weight
        for place in places:
            adapter = Adapter(dim, width, generator).to(ref.device, ref.dtype)
            block.add_module(f"adapter_{place}", adapter)
            getattr(block, place).register_forward_hook(adapter.hook)
            count += 1
    return count


def prepare_adapter(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    """Add adapters; train them and the head, the backbone frozen."""
    opts = method_options(cfg, OPTIONS)
    if opts["where"] not in PLACES:
        raise UserError(f"unknown adapter place {opts['where']!r}", "--method-option where", "use mlp, attn or both")
    if opts["reduction"] < 1 or opts["bottleneck"] < 0:
        raise UserError(
            "adapter width options must be positive", "--method-option", "e.g. reduction=8 or bottleneck=64"
        )
    add_adapters(model.backbone, PLACES[opts["where"]], opts["reduction"], opts["bottleneck"], gen)
    adapters = adapter_param_names(model)
    train_head_and(model, adapters)


ADAPTER = Method(
    name="adapter",
    summary="Adapter: zero-initialised bottleneck MLPs after each block's MLP (where/reduction options) + head (SGD)",
    phases=(Phase("train", "sgd", prepare_adapter),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=0.05,
    default_wd=0.0001,
)
