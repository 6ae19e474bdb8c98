"""Optimizers and schedules: weight-decay parameter groups, SGD/AdamW, linear warm-up then cosine decay."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from vptstudy.models.tunable import TunableBackbone
from vptstudy.models.wrap import no_weight_decay_names
from vptstudy.plan import PhasePlan


def decay_groups(
    named: Iterable[tuple[str, torch.nn.Parameter]], skip: set[str], weight_decay: float
) -> list[dict[str, Any]]:
    """Decayed (matrices, prompts) and not decayed (biases, norms, the names in ``skip``); no empty second group."""
    decay, no_decay = [], []
    for name, param in named:
        (no_decay if param.ndim <= 1 or name in skip else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def param_groups(model: TunableBackbone, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters split into decayed (matrices, prompts) and not decayed (biases, norms, embeddings)."""
    return decay_groups(model.trainable_parameters(), no_weight_decay_names(model), weight_decay)


def make_optimizer(kind: str, groups: list[dict[str, Any]], lr: float, device: torch.device) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) or AdamW over ``groups``; fused kernels on CUDA."""
    fused = {"fused": True} if device.type == "cuda" else {}
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, **fused)
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=lr, **fused)
    raise ValueError(f"unknown optimizer {kind!r}")


def phase_optimizer(
    model: TunableBackbone, php: PhasePlan, steps_per_epoch: int, device: torch.device
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, int]:
    """A phase's optimizer at its scaled lr, and its warm-up + cosine schedule (per step); also the total steps."""
    optimizer = make_optimizer(php.optimizer, param_groups(model, php.weight_decay), php.lr, device)
    total_steps = php.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(total_steps, php.warmup_epochs * steps_per_epoch)
    )
    return optimizer, schedule, total_steps


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR factor per optimizer step: linear warm-up to 1, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor
