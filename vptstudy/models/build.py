"""The run's model: its backbone with a fresh head, in its tunable wrapper."""

from __future__ import annotations

import torch

from vptstudy.config import RunConfig
from vptstudy.models.backbones import create_backbone
from vptstudy.models.tunable import TunableBackbone
from vptstudy.models.wrap import wrap_backbone
from vptstudy.plan import RunPlan, as_plan


def build_model(run: RunConfig | RunPlan, num_classes: int) -> TunableBackbone:
    """The run's backbone with a fresh ``num_classes`` head in its tunable wrapper (seeded, on the CPU)."""
    p = as_plan(run)
    cfg = p.resolved
    torch.manual_seed(cfg.seed)
    backbone = create_backbone(
        cfg.model,
        num_classes,
        pretrained=cfg.pretrained,
        weights=cfg.weights,
        img_size=cfg.img_size,
        dropout=p.backbone_dropout,
        head_init=p.head_init,
    )
    return wrap_backbone(backbone)
