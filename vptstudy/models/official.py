"""The study's backbone recipe on a timm model: where dropout acts, and how the new classifier is initialised.

Dropout as the official ViT applies it (KMnP/vpt src/models/vit_backbones/vit.py, rates in src/configs/vit_configs.py
``dropout_rate 0.1``, ``attention_dropout_rate 0.0``): after the embeddings (vit.py:183) and twice in the MLP
(vit.py:134, 136). The attention-probability dropout and the attention output projection's dropout both use
``attention_dropout_rate`` (vit.py:81-82), so they stay 0; the classifier has no dropout (mlp.py: ``MLP_NUM`` 0
means a single Linear). In timm these are ``pos_drop`` and every block's ``mlp.drop1``/``mlp.drop2``.

Head init (mlp.py:53-57, passed ``special_bias=True`` by ChengHan111/VPT-or-FT src/models/vit_models.py:213):
kaiming normal with ``fan_out`` on the weight (std ``sqrt(2 / C)``) and the bias set to ``-log(0.99 / 0.01)``.
"""

from __future__ import annotations

import math

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

HEAD_INITS = ("official", "timm")
PRIOR_PROB = 0.01
SPECIAL_BIAS = -math.log((1 - PRIOR_PROB) / PRIOR_PROB)  # about -4.595
STUDY_VIT_DROPOUT = 0.1


def study_dropout(model_name: str, trains_encoder: bool) -> float:
    """The backbone dropout the study trains with: 0.1 for a ViT whose encoder trains in train mode (FT), else 0.

    The study's Swin backbones use timm's default ``drop_rate`` 0 (they set only a drop-path rate,
    S src/models/build_vit_backbone.py ``_build_swin_model``), so Swin gets 0 here.
    """
    return STUDY_VIT_DROPOUT if trains_encoder and "swin" not in model_name.lower() else 0.0


def set_backbone_dropout(model: nn.Module, p: float) -> None:
    """Put dropout ``p`` where the official ViT has it (embeddings, MLP) and 0 everywhere else in ``model``.

    Acts only while the model is in train mode (``nn.Dropout``); a frozen backbone held in eval mode never drops.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"backbone dropout {p} is not in [0, 1)")
    official = {"pos_drop"} if isinstance(model, VisionTransformer) else set()
    for name, module in model.named_modules():
        if not isinstance(module, nn.Dropout):
            continue
        module.p = p if name in official or name.endswith(("mlp.drop1", "mlp.drop2")) else 0.0


def init_head(model: nn.Module, mode: str = "official") -> None:
    """Initialise the classifier ``model.get_classifier()``: ``official`` (kaiming fan_out + special bias) or
    ``timm`` (leave timm's own init)."""
    if mode not in HEAD_INITS:
        raise ValueError(f"head init {mode!r} is not one of {HEAD_INITS}")
    head = model.get_classifier()
    if mode == "timm" or not isinstance(head, nn.Linear):
        return
    with torch.no_grad():
        nn.init.kaiming_normal_(head.weight, a=0, mode="fan_out")
        if head.bias is not None:
            nn.init.constant_(head.bias, SPECIAL_BIAS)
