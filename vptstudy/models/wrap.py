"""Wrap a timm backbone in the prompt-aware model that methods tune: PromptedViT or PromptedSwin."""

from __future__ import annotations

from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from vptstudy.errors import UserError
from vptstudy.models.prompts import PromptedViT
from vptstudy.models.swin_prompts import PromptedSwin
from vptstudy.models.tunable import TunableBackbone


def wrap_backbone(backbone: nn.Module) -> TunableBackbone:
    """The wrapper for a timm VisionTransformer or SwinTransformer."""
    if isinstance(backbone, VisionTransformer):
        return PromptedViT(backbone)
    if isinstance(backbone, SwinTransformer):
        return PromptedSwin(backbone)
    raise UserError(
        f"backbone {type(backbone).__name__} is not supported",
        "--model",
        "use a timm VisionTransformer (vit_*) or SwinTransformer (swin_*)",
    )


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters the wrapped backbone exempts from weight decay (its ``no_weight_decay()``)."""
    names: set[str] = set()
    for child_name, child in model.named_children():
        if hasattr(child, "no_weight_decay"):
            names |= {f"{child_name}.{name}" for name in child.no_weight_decay()}
    return names
