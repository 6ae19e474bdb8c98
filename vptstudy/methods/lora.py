"""LoRA: a trainable low-rank update ``(alpha / r) * B A`` on frozen linear layers (SGD).

Options: ``rank`` (8), ``alpha`` (8.0; the update is scaled by ``alpha / rank``), ``targets`` (the layers adapted in
every block, comma-separated name suffixes; default ``attn.qkv,attn.proj``), ``dropout`` (0.0, on the LoRA input).
``A`` starts like ``nn.Linear``'s default and ``B`` at zero, so training starts from the backbone itself.
:func:`merge_lora` folds the updates into plain ``nn.Linear`` layers with timm's own parameter names.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods.base import SGD_LR_GRID, WD_GRID, Method, Phase, train_head_and
from vptstudy.methods.modules import adapter_param_names, method_options, named_linears, replace_module
from vptstudy.models.tunable import TunableBackbone

OPTIONS = {"rank": 8, "alpha": 8.0, "targets": "attn.qkv,attn.proj", "dropout": 0.0}


class LoRALinear(nn.Module):
    """``y = W x + b + (alpha / r) * B A dropout(x)`` around a frozen ``nn.Linear``.

    The base layer's ``weight`` and ``bias`` are registered here under the same names (shared, not copied), so a
    wrapped ``attn.qkv`` keeps ``attn.qkv.weight``; the new parameters are ``lora_a.weight`` and ``lora_b.weight``.
    """

    def __init__(
        self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.rank, self.scale = rank, alpha / rank
        self.lora_dropout = nn.Dropout(dropout)
        self.lora_a = nn.Linear(self.in_features, rank, bias=False)
        self.lora_b = nn.Linear(rank, self.out_features, bias=False)
        bound = 1.0 / math.sqrt(self.in_features)  # nn.Linear's default init: kaiming_uniform(a=sqrt(5))
        a = torch.empty(rank, self.in_features).uniform_(-bound, bound, generator=generator)
        with torch.no_grad():
            self.lora_a.weight.copy_(a)
            self.lora_b.weight.zero_()
        self.lora_a.to(self.weight.device, self.weight.dtype)
        self.lora_b.to(self.weight.device, self.weight.dtype)

    def adapter_params(self) -> list[str]:
        return ["lora_a.weight", "lora_b.weight"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + self.lora_b(self.lora_a(self.lora_dropout(x))) * self.scale

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` computing the same function (``W + scale * B A``)."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        linear.to(self.weight.device, self.weight.dtype)
        linear.weight.copy_(self.weight + self.scale * (self.lora_b.weight @ self.lora_a.weight))
        if self.bias is not None:
            linear.bias.copy_(self.bias)
        linear.requires_grad_(self.weight.requires_grad)
        return linear


def add_lora(
    backbone: nn.Module,
    targets: tuple[str, ...],
    rank: int,
    alpha: float,
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Wrap every block's linear layers named by ``targets`` with :class:`LoRALinear`; returns their names."""
    found = list(named_linears(backbone, targets))
    for name, linear in found:
        replace_module(backbone, name, LoRALinear(linear, rank, alpha, dropout, generator))
    return [name for name, _ in found]


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` in ``model`` by its merged ``nn.Linear`` (in place; returns ``model``)."""
    for name, module in [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALinear)]:
        replace_module(model, name, module.merged())
    return model


def _targets(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def prepare_lora(model: TunableBackbone, cfg: RunConfig, gen: torch.Generator) -> None:
    """Add LoRA to the chosen linear layers; train the LoRA matrices and the head."""
    opts = method_options(cfg, OPTIONS)
    if opts["rank"] < 1:
        raise UserError(f"LoRA rank {opts['rank']} is not positive", "--method-option rank", "use rank >= 1")
    targets = _targets(opts["targets"])
    if not add_lora(model.backbone, targets, opts["rank"], opts["alpha"], opts["dropout"], gen):
        raise UserError(
            f"no linear layer of the backbone's blocks matches targets={opts['targets']!r}",
            "--method-option targets",
            "name layers by suffix, e.g. targets=attn.qkv,attn.proj,mlp.fc1,mlp.fc2",
        )
    lora = adapter_param_names(model)
    train_head_and(model, lora)


LORA = Method(
    name="lora",
    summary="LoRA: low-rank updates of attention qkv/proj (rank, alpha options) + head train (SGD)",
    phases=(Phase("train", "sgd", prepare_lora),),
    lr_grid=SGD_LR_GRID,
    wd_grid=WD_GRID,
    default_lr=0.05,
    default_wd=0.0001,
    inert_options={"dropout": "the backbone is held in eval mode, so LoRA's input dropout never acts"},
)
